"""A batch of events to record at once (POST /patient-events/batch): reading the body, a
JSON array or NDJSON, and checking every item before anything is stored.

A batch is all or nothing. Every item is checked (its shape, its typed payload) and every
failure is reported, each with the item's index, a JSON Pointer into the body and, for
NDJSON, its line; one failure and nothing is stored. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
)

from carelog.domain.clinical import EVENT_TYPES
from carelog.domain.events import PatientEventCreate
from carelog.domain.limits import (
    IDEMPOTENCY_KEY_PATTERN,
    JSON_OBJECT_SCHEMA,
    check_json_value,
    loads_strict,
    may_repeat_a_key,
    storable_json_text,
)
from carelog.errors import BadRequest, PayloadTooLarge, ValidationFailed

NDJSON = "application/x-ndjson"
MAX_REPORTED_ERRORS = 100


# A validation context with PAYLOAD_TEXT_CHECKED true: every item's JSON text passed
# ``limits.storable_json_text`` (see texts_checked), or its payload passed
# ``check_json_value`` as it was made (a FHIR import's mapping), so no payload needs its
# values walked.
PAYLOAD_TEXT_CHECKED = "carelog.payload_text_checked"


def _check_payload(value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
    if not (info.context and info.context.get(PAYLOAD_TEXT_CHECKED)):
        check_json_value(value)
    return value


class BatchItem(PatientEventCreate):
    """One event of a batch: the body of ``POST /patient-events``, plus its own optional
    idempotency key (the ``Idempotency-Key`` header of that route)."""

    # The same payload as the single route's, checked the same way unless its text was.
    payload: Annotated[
        dict[str, Any], AfterValidator(_check_payload), WithJsonSchema(JSON_OBJECT_SCHEMA)
    ] = Field(description="The event's content, a JSON object.")

    idempotency_key: str | None = Field(
        default=None,
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description="Retries of a batch with the same key and item return the stored event "
        "instead of a new one; the same key with another item is refused (409).",
    )


_LAST = datetime.max.replace(tzinfo=UTC)


def log_order(items: Sequence[PatientEventCreate]) -> list[int]:
    """The indexes of ``items`` in the order to store them in: the log's index order
    (patient, then clinical time; "now", no ``occurred_at``, sorts last, as it is stored),
    so that the inserts touch neighbouring index pages."""
    return sorted(
        range(len(items)),
        key=lambda i: (items[i].patient_id, items[i].occurred_at or _LAST),
    )


_ITEMS = TypeAdapter(list[BatchItem])
_PAYLOADS = {name: TypeAdapter(list[model]) for name, model in EVENT_TYPES.items()}  # type: ignore[valid-type]


@dataclass(frozen=True, slots=True)
class ItemError:
    """Why one item of a batch was refused: which item (its index, and its line in NDJSON),
    where in it (a JSON Pointer into the body) and why."""

    index: int
    pointer: str
    message: str
    type: str
    line: int | None = None

    def as_problem_entry(self) -> dict[str, Any]:
        """The entry of a problem's ``errors``."""
        # field: the path inside the item, dotted as the single route names it.
        inside = self.pointer.split("/")[2:]
        entry: dict[str, Any] = {
            "field": ".".join(p.replace("~1", "/").replace("~0", "~") for p in inside) or "item",
            "index": self.index,
            "pointer": self.pointer,
            "location": "body",
            "message": self.message,
            "type": self.type,
        }
        if self.line is not None:
            entry["line"] = self.line
        return entry


def _pointer(index: int, loc: Iterable[int | str]) -> str:
    parts = [str(index), *(str(part).replace("~", "~0").replace("/", "~1") for part in loc)]
    return "/" + "/".join(parts)


def refused(errors: list[ItemError], *, what: str = "item") -> ValidationFailed:
    """The 422 of a batch with failing items: each named (the first MAX_REPORTED_ERRORS),
    and how many failed in all (``failed_items``)."""
    failed = len({error.index for error in errors})
    return ValidationFailed(
        f"{failed} {what}{'s' if failed != 1 else ''} of the batch failed validation; "
        "nothing was stored.",
        errors=[error.as_problem_entry() for error in errors[:MAX_REPORTED_ERRORS]],
        extensions={"failed_items": failed},
    )


def parse_json_array(body: bytes, *, max_events: int) -> tuple[list[Any], list[bytes]]:
    """The items of a JSON array body, and each one's JSON text (400 if it is not JSON, or
    repeats a key in an object; 422 if it is not an array; 413 over ``max_events`` items)."""
    import orjson  # the server extra's

    try:
        parsed = loads_strict(body)
    except ValueError:  # orjson's and json's decode errors are ValueErrors
        raise BadRequest("The request body is not valid JSON.") from None
    if not isinstance(parsed, list):
        raise ValidationFailed(
            "The batch must be a JSON array of events (or NDJSON, one event a line).",
            errors=[
                {
                    "field": "body",
                    "pointer": "",
                    "location": "body",
                    "message": "not an array",
                    "type": "list_type",
                }
            ],
        )
    _check_count(len(parsed), max_events)
    # Written again (about 1 us an item), for texts_checked: walking the values costs 3.
    return parsed, [orjson.dumps(item) for item in parsed]


def parse_ndjson(body: bytes, *, max_events: int) -> tuple[list[Any], list[int], list[bytes]]:
    """The items of an NDJSON body, one JSON value a line (blank lines skipped), the line
    number (from 1) of each and its text; a line that is not JSON, or whose object repeats a
    key, is 400 naming it."""
    import orjson  # the server extra's

    items: list[Any] = []
    lines: list[int] = []
    raw_lines = body.split(b"\n")
    for number, line in enumerate(raw_lines, start=1):
        if not line.strip():
            continue
        try:
            items.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            raise _broken_line(number, len(items)) from None
        lines.append(number)
        _check_count(len(items), max_events)
    # Repeated keys, checked once for the whole body (its lines are joined by newlines,
    # which hold no colon); only if it may repeat one is each line read again to find it.
    if may_repeat_a_key(body, items):
        for index, number in enumerate(lines):
            try:
                loads_strict(raw_lines[number - 1])
            except ValueError:
                raise _broken_line(number, index) from None
    return items, lines, [raw_lines[number - 1] for number in lines]


def _broken_line(number: int, index: int) -> BadRequest:
    return BadRequest(
        f"Line {number} of the NDJSON body is not valid JSON; nothing was stored.",
        errors=[
            {
                "field": "item",
                "line": number,
                "index": index,
                "pointer": f"/{index}",
                "location": "body",
                "message": "invalid JSON (or an object repeats a key)",
                "type": "json_invalid",
            }
        ],
    )


def _check_count(count: int, max_events: int) -> None:
    if count > max_events:
        raise PayloadTooLarge(
            f"A batch may hold at most {max_events} events; send the rest in another batch.",
            extensions={"max_events": max_events},
        )


def texts_checked(texts: Iterable[bytes]) -> bool:
    """Whether every one of the items' JSON texts (as orjson read them) passes
    ``limits.storable_json_text``: then no payload needs its values walked."""
    return all(storable_json_text(text) for text in texts)


def validate_items(
    raw: list[Any], *, lines: list[int] | None = None, texts_checked: bool = False
) -> list[BatchItem]:
    """Every item checked as an event and, for a built-in type, its payload as that type:
    the items, or :class:`ValidationFailed` naming every failure (nothing is stored).
    ``texts_checked``: every item's JSON text passed :func:`texts_checked`."""
    context = {PAYLOAD_TEXT_CHECKED: texts_checked}
    if not raw:
        raise ValidationFailed(
            "The batch is empty.",
            errors=[
                {
                    "field": "body",
                    "pointer": "",
                    "location": "body",
                    "message": "no events",
                    "type": "too_short",
                }
            ],
        )
    errors: list[ItemError] = []

    def line_of(index: int) -> int | None:
        return None if lines is None else lines[index]

    items: list[BatchItem] = []

    try:
        items = _ITEMS.validate_python(raw, context=context)
    except ValidationError as exc:
        for error in exc.errors(include_input=False, include_url=False):
            index, *loc = error["loc"]
            assert isinstance(index, int)
            errors.append(
                ItemError(index, _pointer(index, loc), error["msg"], error["type"], line_of(index))
            )
        # The items that passed, so that their payloads are checked (and reported) too.
        failed = {error.index for error in errors}
        checked = [
            (i, BatchItem.model_validate(raw[i])) for i in range(len(raw)) if i not in failed
        ]
    else:
        checked = list(enumerate(items))
    errors.extend(_payload_errors(checked, line_of))
    errors.extend(_repeated_keys(checked, line_of))
    if errors:
        errors.sort(key=lambda e: e.index)
        raise refused(errors)
    return items


def _payload_errors(
    checked: list[tuple[int, BatchItem]], line_of: Callable[[int], int | None]
) -> Iterator[ItemError]:
    # One validation call per built-in type over all its payloads: the per-call overhead
    # is paid once a type, not once an item.
    by_type: dict[str, list[tuple[int, BatchItem]]] = {}
    for index, item in checked:
        if item.event_type in _PAYLOADS:
            by_type.setdefault(item.event_type, []).append((index, item))
    for event_type, found in by_type.items():
        try:
            _PAYLOADS[event_type].validate_python([item.payload for _, item in found])
        except ValidationError as exc:
            for error in exc.errors(include_input=False, include_url=False):
                position, *loc = error["loc"]
                assert isinstance(position, int)
                index = found[position][0]
                yield ItemError(
                    index,
                    _pointer(index, ["payload", *loc]),
                    error["msg"],
                    error["type"],
                    line_of(index),
                )


def _repeated_keys(
    checked: list[tuple[int, BatchItem]], line_of: Callable[[int], int | None]
) -> Iterator[ItemError]:
    seen: set[str] = set()
    for index, item in checked:
        key = item.idempotency_key
        if key is None:
            continue
        if key in seen:
            yield ItemError(
                index,
                _pointer(index, ["idempotency_key"]),
                "an earlier item of this batch has the same idempotency key",
                "idempotency_key_repeated",
                line_of(index),
            )
        seen.add(key)
