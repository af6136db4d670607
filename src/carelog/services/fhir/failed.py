"""An entry of an import that cannot be stored, and why: the issue its outcome names."""

from __future__ import annotations

from pydantic import ValidationError

from carelog.domain.fhir import Issue
from carelog.domain.fhir.imported import IssueCode


class Failed(Exception):
    """An entry that cannot be stored, and why: raised before the entry writes anything
    (see ``entries.Importer._store``)."""

    def __init__(self, location: str, message: str, code: IssueCode = "processing") -> None:
        super().__init__(message)
        self.issue = Issue(location, message, code)


def first_error(exc: ValidationError) -> str:
    """The first of a validation's errors, as an issue says it: ``field: message``."""
    error = exc.errors(include_url=False, include_input=False)[0]
    field = ".".join(str(part) for part in error["loc"]) or "event"
    return f"{field}: {error['msg']}"
