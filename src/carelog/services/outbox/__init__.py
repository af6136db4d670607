"""Webhooks: subscriptions (``subscriptions``), the SSRF rule of their targets
(``targets``), Standard Webhooks signatures (``signing``) and the delivery worker
(``worker``) that sends what the outbox trigger of migration 0024 wrote in each event's own
transaction, at least once, one patient's deliveries in order."""

from carelog.services.outbox.worker import DeliveryWorker

__all__ = ["DeliveryWorker"]
