"""Background jobs kept in PostgreSQL (``storage.jobs``), run by a small worker in the
service's lifespan: it claims the oldest queued job with ``FOR UPDATE SKIP LOCKED`` (so any
number of instances share the queue, each job run by one), runs it, and polls again. A job
whose worker died (its heartbeat stale) is claimed again; one whose worker stops cleanly
(the service shuts down) is put back in the queue at once, and the next instance to start
takes it up.

Why not a job-queue library: procrastinate (PostgreSQL, psycopg 3) fits the database and
the driver, but brings its own schema of 600 lines with its own migrations outside the
service's checksummed numbered ones, tables without a tenant and outside row-level
security, its own pool and a state of each job beside the export's own (progress, files,
cancel by DELETE), which would have to be kept in step with it. What the export needs of a
queue is one claim statement and a heartbeat.
"""

from carelog.services.jobs.worker import JobWorker

__all__ = ["JobWorker"]
