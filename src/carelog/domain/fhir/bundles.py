"""The two ways resources come in: a Bundle (``POST /fhir``: collection, batch or
transaction) and NDJSON (``POST /fhir/$import``, one resource a line). Each gives one
:class:`Item` per entry or line, in order, with its place, so that a service can answer
entry by entry; references between a Bundle's entries (by fullUrl) are resolved here."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any, Literal

from carelog.domain.fhir.imported import (
    Imported,
    ImportedPatient,
    Issue,
    IssueCode,
    PatientRef,
    Read,
    Rejected,
)
from carelog.domain.fhir.ingest import read_resource

BundleKind = Literal["collection", "batch", "transaction"]
KINDS: tuple[BundleKind, ...] = ("collection", "batch", "transaction")
# The longest NDJSON line read (a resource's JSON): a document's 10,000 characters in base64
# and its envelope fit many times over.
MAX_LINE_BYTES = 1_000_000
_PUT_URL = re.compile(r"^([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})$")


@dataclass(frozen=True, slots=True)
class Item:
    """One Bundle entry (``where`` ``Bundle.entry[3]``, ``position`` 3) or NDJSON line
    (``line 7``, position 7), its fullUrl and request (method, url) if it has them, and what
    reading it gave. Issue locations of an entry start with ``Bundle.entry[3]``."""

    position: int
    where: str
    read: Read
    full_url: str | None = None
    method: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class BundleRead:
    """A Bundle's type and entries; ``issues`` when the Bundle itself is refused (then no
    entry was read)."""

    kind: BundleKind | None
    items: tuple[Item, ...] = ()
    issues: tuple[Issue, ...] = ()


def _refuse(location: str, message: str, code: IssueCode = "invalid") -> BundleRead:
    return BundleRead(None, (), (Issue(location, message, code),))


def _rejected(where: str, message: str, code: IssueCode = "invalid") -> Read:
    return Rejected(None, None, (Issue(where, message, code),))


def _request(entry: dict[str, Any], where: str, kind: BundleKind) -> Issue | None:
    """What is wrong with a batch or transaction entry's request (None: a POST or PUT of the
    entry's resource)."""
    request = entry.get("request")
    if not isinstance(request, dict):
        return Issue(f"{where}.request", f"a {kind} entry needs its request", "required")
    method, url = request.get("method"), request.get("url")
    if method not in ("POST", "PUT"):
        return Issue(f"{where}.request.method", f"{method!r}: only POST and PUT", "not-supported")
    if not isinstance(url, str) or not url:
        return Issue(f"{where}.request.url", "the request needs its url", "required")
    resource = entry.get("resource")
    resource_type, resource_id = (
        (resource.get("resourceType"), resource.get("id"))
        if isinstance(resource, dict)
        else (None, None)
    )
    if method == "POST" and url != resource_type:
        return Issue(f"{where}.request.url", f"POST {url!r}: the url is the resource's type")
    if method == "PUT":
        matched = _PUT_URL.match(url)
        if matched is None:
            return Issue(f"{where}.request.url", f"PUT {url!r}: only <type>/<id>", "not-supported")
        if matched[1] != resource_type or matched[2] != resource_id:
            return Issue(f"{where}.request.url", f"PUT {url!r}: not the entry's type and id")
    return None


def read_bundle(bundle: Any, *, validate: bool = True) -> BundleRead:
    """A parsed Bundle's entries, each read on its own; references to another entry's
    fullUrl resolved (to a Patient of the Bundle, else an issue). A Bundle of another type
    than collection, batch or transaction is refused whole."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        return _refuse("Bundle.resourceType", "the body must be a Bundle")
    kind = bundle.get("type")
    if kind not in KINDS:
        return _refuse(
            "Bundle.type", f"type {kind!r}: only collection, batch or transaction", "not-supported"
        )
    entries = bundle.get("entry", [])
    if not isinstance(entries, list):
        return _refuse("Bundle.entry", "entry must be a list", "structure")
    items: list[Item] = []
    seen: set[str] = set()
    for at, entry in enumerate(entries):
        where = f"Bundle.entry[{at}]"
        if not isinstance(entry, dict):
            items.append(
                Item(at, where, _rejected(where, "an entry is a JSON object", "structure"))
            )
            continue
        full_url = entry.get("fullUrl") if isinstance(entry.get("fullUrl"), str) else None
        given = entry.get("request")
        request: dict[str, Any] = given if isinstance(given, dict) else {}
        method, url = request.get("method"), request.get("url")
        problem = None if kind == "collection" else _request(entry, where, kind)
        if full_url is not None and full_url in seen:
            problem = Issue(
                f"{where}.fullUrl", f"another entry has fullUrl {full_url}", "duplicate"
            )
        if "resource" not in entry and problem is None:
            problem = Issue(f"{where}.resource", "the entry needs its resource", "required")
        if problem is not None:
            read: Read = Rejected(None, None, (problem,))
        else:
            read = _locate(read_resource(entry["resource"], validate=validate), where)
        if full_url is not None:
            seen.add(full_url)
        items.append(Item(at, where, read, full_url, method, url))
    return BundleRead(kind, tuple(_resolve(items)))


def _locate(read: Read, where: str) -> Read:
    if not isinstance(read, Rejected):
        return read
    kind = read.resource_type or "Resource"
    issues = tuple(issue.at(f"{where}.resource", kind) for issue in read.issues)
    return replace(read, issues=issues)


def _resolve(items: list[Item]) -> Iterator[Item]:
    """References by fullUrl to a Patient of the Bundle (and ``Patient/<id>`` to a Patient
    entry of that id) replaced by the patient it gives."""
    by_url = {item.full_url: item for item in items if item.full_url is not None}
    by_id = {
        item.read.resource_id: item.read
        for item in items
        if isinstance(item.read, ImportedPatient) and item.read.resource_id is not None
    }
    for item in items:
        read = item.read
        if not isinstance(read, Imported):
            yield item
            continue
        ref, element = (
            read.patient,
            "patient" if read.resource_type == "AllergyIntolerance" else "subject",
        )
        target = by_url.get(ref.url) if ref.url is not None else None
        location = f"{item.where}.resource.{element}"
        if target is not None:
            if isinstance(target.read, ImportedPatient):
                yield replace(item, read=replace(read, patient=target.read.ref))
                continue
            message = f"{ref.url} is {target.where}, which is not a Patient that could be read"
            yield replace(
                item,
                read=Rejected(read.resource_type, read.resource_id, (Issue(location, message),)),
            )
            continue
        if ref.id is None and ref.value is None:
            message = f"no entry of this Bundle has fullUrl {ref.url}"
            yield replace(
                item,
                read=Rejected(
                    read.resource_type, read.resource_id, (Issue(location, message, "not-found"),)
                ),
            )
            continue
        if ref.id is None:  # an identifier: the service resolves it
            yield item
            continue
        patient = by_id.get(ref.id)
        resolved = PatientRef(id=ref.id) if patient is None else patient.ref
        yield replace(item, read=replace(read, patient=resolved))


def _reject_number(text: str) -> Any:
    raise ValueError(f"{text} is not a JSON number")


# What ``json.loads(text, parse_constant=_reject_number)`` makes for each line, made once.
_DECODER = json.JSONDecoder(parse_constant=_reject_number)


def _loads(text: str) -> Any:
    """``json.loads(text, parse_constant=_reject_number)``, without a decoder a line."""
    if text.startswith("\ufeff"):  # (json.loads's own check)
        raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
    return _DECODER.decode(text)


class NdjsonReader:
    """Reads NDJSON a line at a time (``feed`` each line as it arrives, from a sync or an
    async stream): blank lines are skipped; a line that is too long, not JSON or not an
    object is an error at ``line N``. Lines count from 1, blank ones included. A
    ``urn:uuid:`` reference has no Bundle to resolve it in: an error too."""

    def __init__(self, *, validate: bool = True, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self.validate = validate
        self.max_line_bytes = max_line_bytes
        self.line = 0

    def feed(self, raw: bytes) -> Item | None:
        """The next line's item (None for a blank line)."""
        self.line += 1
        where = f"line {self.line}"
        if len(raw) > self.max_line_bytes:
            return Item(
                self.line,
                where,
                _rejected(where, f"longer than {self.max_line_bytes} bytes", "too-long"),
            )
        if not raw.strip():
            return None
        try:
            value = _loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            return Item(self.line, where, _rejected(where, f"not JSON: {exc}"))
        if not isinstance(value, dict):
            return Item(
                self.line, where, _rejected(where, "a line must be a JSON object", "structure")
            )
        read = read_resource(value, validate=self.validate)
        if isinstance(read, Imported) and not read.patient.resolved:
            element = "patient" if read.resource_type == "AllergyIntolerance" else "subject"
            message = f"{read.patient.url}: NDJSON has no Bundle to resolve it in"
            issue = Issue(f"{read.resource_type}.{element}", message, "not-found")
            read = Rejected(read.resource_type, read.resource_id, (issue,))
        return Item(self.line, where, read)


def read_ndjson(
    lines: Iterable[bytes], *, validate: bool = True, max_line_bytes: int = MAX_LINE_BYTES
) -> Iterator[Item]:
    """Every non-blank line of ``lines`` read (see :class:`NdjsonReader`)."""
    reader = NdjsonReader(validate=validate, max_line_bytes=max_line_bytes)
    for raw in lines:
        item = reader.feed(raw)
        if item is not None:
            yield item
