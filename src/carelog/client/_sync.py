# Generated from its _async twin by scripts/generate_sync_client.py: do not edit.
"""The synchronous client: every route of the API as a typed method (the pydantic models the
API itself answers with), writes made safe to retry, pages followed.

This file is made from its ``_async`` twin by ``scripts/generate_sync_client.py``: edit the
async ones, then run it."""

from __future__ import annotations

from carelog.client._sync_base import WORKFLOWS, Workflow
from carelog.client._sync_records import _SyncRecords
from carelog.client._sync_workflows import _SyncWorkflows


class Client(_SyncRecords, _SyncWorkflows):
    """A Carelog client: ``with Client(url, api_key) as carelog: ...``.

    Errors are the server's own exception classes (:mod:`carelog.errors`: ``NotFound``,
    ``ValidationFailed`` with ``errors``, ``TransitionNotAllowed``...), each with ``status``,
    ``code`` and the whole ``problem``.
    """


__all__ = ["WORKFLOWS", "Client", "Workflow"]
