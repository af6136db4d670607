"""The asynchronous client: every route of the API as a typed method (the pydantic models the
API itself answers with), writes made safe to retry, pages followed.

``_sync*.py`` are made from these files by ``scripts/generate_sync_client.py``: edit the
async ones, then run it."""

from __future__ import annotations

from carelog.client._async_base import WORKFLOWS, Workflow
from carelog.client._async_records import _AsyncRecords
from carelog.client._async_workflows import _AsyncWorkflows


class AsyncClient(_AsyncRecords, _AsyncWorkflows):
    """A Carelog client: ``async with AsyncClient(url, api_key) as carelog: ...``.

    Errors are the server's own exception classes (:mod:`carelog.errors`: ``NotFound``,
    ``ValidationFailed`` with ``errors``, ``TransitionNotAllowed``...), each with ``status``,
    ``code`` and the whole ``problem``.
    """


__all__ = ["WORKFLOWS", "AsyncClient", "Workflow"]
