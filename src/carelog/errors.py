"""The one error hierarchy shared by server, SDK and CLI.

Services raise these; the API renders them as RFC 9457 problem details. Each class carries a
stable machine-readable ``code`` and the HTTP status it maps to. Messages never contain SQL,
stack traces or patient identifiers.
"""

from __future__ import annotations

from typing import Any

PROBLEM_TYPE_PREFIX = "urn:carelog:problem:"


class CarelogError(Exception):
    """Base of every error Carelog raises on purpose."""

    status: int = 500
    code: str = "internal-error"
    title: str = "Internal server error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        extensions: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors
        self.headers = headers or {}
        self.extensions = extensions or {}

    @property
    def type_uri(self) -> str:
        """The problem ``type`` URI, stable per error class."""
        return PROBLEM_TYPE_PREFIX + self.code

    def to_problem(self, *, instance: str | None = None) -> dict[str, Any]:
        """Render as an RFC 9457 problem details object."""
        body: dict[str, Any] = {
            "type": self.type_uri,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if instance is not None:
            body["instance"] = instance
        if self.errors:
            body["errors"] = self.errors
        body.update(self.extensions)  # RFC 9457 extension members
        return body


class BadRequest(CarelogError):
    """The request could not be parsed at all (malformed JSON, bad encoding)."""

    status = 400
    code = "bad-request"
    title = "Bad request"


class Unauthenticated(CarelogError):
    """No credentials, or credentials that are unknown, revoked or expired."""

    status = 401
    code = "unauthenticated"
    title = "Authentication required"


class Forbidden(CarelogError):
    """Authenticated, but the principal lacks the scope for this action."""

    status = 403
    code = "forbidden"
    title = "Forbidden"


class NotFound(CarelogError):
    """Nothing visible to this principal at that address (also: another tenant's data)."""

    status = 404
    code = "not-found"
    title = "Not found"


class Conflict(CarelogError):
    """The request conflicts with what is stored (e.g. an idempotency key reused)."""

    status = 409
    code = "conflict"
    title = "Conflict"


class IdempotencyKeyReused(Conflict):
    """The same Idempotency-Key was sent before with a different request body."""

    code = "idempotency-key-reused"
    title = "Idempotency key reused with a different request"


class EventSuperseded(Conflict):
    """The event was already corrected or retracted; ``current_version`` names the newest."""

    code = "event-superseded"
    title = "Event already superseded"

    def __init__(self, event_id: int, current_version: int) -> None:
        super().__init__(
            f"Event {event_id} was already superseded; its current version is "
            f"{current_version}. Correct that one.",
            extensions={"current_version": current_version},
        )


class PreconditionFailed(CarelogError):
    """``If-Match`` named a version that is no longer current; ``current_version`` is."""

    status = 412
    code = "precondition-failed"
    title = "Precondition failed"

    def __init__(self, detail: str, *, current_version: int) -> None:
        super().__init__(detail, extensions={"current_version": current_version})


class PreconditionRequired(CarelogError):
    """This change overwrites what the client read: it must say which version (``If-Match``)."""

    status = 428
    code = "precondition-required"
    title = "Precondition required"


class PayloadTooLarge(CarelogError):
    """The request body is over the configured limit."""

    status = 413
    code = "payload-too-large"
    title = "Request body too large"


class HeadersTooLarge(CarelogError):
    """The request's headers are over the configured limit."""

    status = 431
    code = "headers-too-large"
    title = "Request header fields too large"


class UnsupportedMediaType(CarelogError):
    """The request body is not JSON."""

    status = 415
    code = "unsupported-media-type"
    title = "Unsupported media type"


class ValidationFailed(CarelogError):
    """A field failed validation; ``errors`` names each failing field."""

    status = 422
    code = "validation-failed"
    title = "Validation failed"


class TooManyRequests(CarelogError):
    """The principal is over its rate limit; retry after the given seconds."""

    status = 429
    code = "rate-limited"
    title = "Too many requests"

    def __init__(self, detail: str | None = None, *, retry_after: int = 1) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


class ServiceUnavailable(CarelogError):
    """The database cannot be reached right now; retry later."""

    status = 503
    code = "service-unavailable"
    title = "Service unavailable"

    def __init__(self, detail: str | None = None, *, retry_after: int = 2) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


class ServiceBusy(ServiceUnavailable):
    """Every database connection is in use, or a statement ran over its time limit
    (``CARELOG_STATEMENT_TIMEOUT_MS``): the database is up but overloaded; retry shortly.

    A subclass of :class:`ServiceUnavailable`, so that code which tolerates an unreachable
    database tolerates a busy one too.
    """

    code = "service-busy"
    title = "Service busy"

    def __init__(self, detail: str | None = None, *, retry_after: int = 1) -> None:
        super().__init__(detail, retry_after=retry_after)


class MigrationError(CarelogError):
    """The database schema is not in a state this version can work with."""

    code = "migration-error"
    title = "Database migration error"
