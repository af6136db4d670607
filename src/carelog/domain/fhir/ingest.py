"""One FHIR R4 resource in: validated with ``fhir.resources``, then read as a Carelog event
(:class:`Imported`), a Patient (:class:`ImportedPatient`) or the reasons it cannot be
(:class:`Rejected`). Pure: no I/O, and never an exception for bad input."""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from pydantic import ValidationError

from carelog.domain.clinical import EVENT_TYPES
from carelog.domain.fhir import codes as c
from carelog.domain.fhir.elements import (
    date_time,
    extensions,
    first_time,
    json_extension,
    patient_ref,
)
from carelog.domain.fhir.imported import (
    Imported,
    ImportedPatient,
    Invalid,
    Issue,
    IssueCode,
    Read,
    Rejected,
)
from carelog.domain.fhir.readers import READERS, Mapped
from carelog.domain.fhir.validation import fast_accepts, fast_hash
from carelog.domain.fhir.validation import validate as fhir_validate
from carelog.domain.limits import EVENT_TYPE_PATTERN, check_json_value, is_valid_patient_id
from carelog.domain.scopes import SensitivityLabel

Resource = dict[str, Any]

# The clinical time of a resource Carelog has no typed mapping for: the first of these.
GENERIC_TIMES = (
    "effectiveDateTime", "effectiveInstant", "effectivePeriod.start", "onsetDateTime",
    "onsetPeriod.start", "occurrenceDateTime", "occurrencePeriod.start", "performedDateTime",
    "performedPeriod.start", "period.start", "recordedDate", "authoredOn", "date", "created",
    "issued",
)  # fmt: skip
_TYPE = re.compile(r"^[A-Z][A-Za-z]{1,63}$")
_EVENT_TYPE = re.compile(EVENT_TYPE_PATTERN)
_STATUSES = (c.FINAL, c.AMENDED, c.RETRACTED)
_LABELS = frozenset(label.value for label in SensitivityLabel)
_PAYLOAD_CODES: dict[str, IssueCode] = {
    "string_too_long": "too-long",
    "too_long": "too-long",
    "literal_error": "code-invalid",
    "string_pattern_mismatch": "code-invalid",
    "missing": "required",
}


def canonical_json(value: Any) -> bytes:
    """JSON with sorted keys and no spaces, UTF-8: the same content gives the same bytes."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return text.encode("utf-8", errors="surrogatepass")


def content_hash(resource: Resource) -> str:
    """SHA-256 (hex) of the resource's canonical JSON without ``meta`` (its version, update
    time and labels), so that a re-import of the same content is recognised."""
    body = {key: value for key, value in resource.items() if key != "meta"}
    return hashlib.sha256(canonical_json(body)).hexdigest()


def read_resource(resource: Any, *, validate: bool = True, fast: bool = True) -> Read:
    """``resource`` (a parsed JSON value) as an event, a patient or a rejection. With
    ``validate`` (the default) it is first checked with ``fhir.resources``; turn it off only
    for resources already validated, since the readers then trust its structure. ``fast``:
    a common Observation checked by ``fast_observation`` (the same verdict, sooner)."""
    if not isinstance(resource, dict):
        return Rejected(
            None, None, (Issue("Resource", "a resource is a JSON object", "structure"),)
        )
    kind = resource.get("resourceType")
    resource_id = resource.get("id") if isinstance(resource.get("id"), str) else None
    if not isinstance(kind, str) or not _TYPE.match(kind):
        message = "resourceType is required" if kind is None else f"{kind!r} is not a resource type"
        issue = Issue("Resource.resourceType", message, "required" if kind is None else "invalid")
        return Rejected(None, resource_id, (issue,))
    accepted = False
    if validate:
        accepted = fast and fast_accepts(resource)
        issues = [] if accepted else fhir_validate(resource, fast=False)
        if issues:
            return Rejected(kind, resource_id, tuple(issues))
    try:
        return _read(resource, kind, resource_id, accepted)
    except Invalid as exc:
        return Rejected(kind, resource_id, (exc.issue,))
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        # Only an unvalidated resource can get here (its structure is then not checked).
        return Rejected(kind, resource_id, (Issue(kind, f"malformed {kind}: {exc}", "structure"),))


def _labels(resource: Resource, kind: str) -> frozenset[str]:
    found = set()
    for at, label in enumerate((resource.get("meta") or {}).get("security") or []):
        code = label.get("code") if isinstance(label, dict) else None
        if label.get("system") != c.ACT_CODE or code not in _LABELS:
            raise Invalid(
                f"{kind}.meta.security[{at}]",
                f"unknown security label {label.get('system')}|{code}: Carelog knows "
                f"{', '.join(sorted(_LABELS))} of {c.ACT_CODE}",
                "code-invalid",
            )
        found.add(code)
    return frozenset(found)


def _patient(resource: Resource, resource_id: str | None, version: str | None) -> ImportedPatient:
    identifiers = tuple(
        (str(x.get("system") or ""), str(x["value"]))
        for x in resource.get("identifier") or []
        if isinstance(x, dict) and x.get("value")
    )
    own = [value for system, value in identifiers if system == c.PATIENT_IDENTIFIER]
    patient_id = own[0] if own else resource_id
    if patient_id is not None and not is_valid_patient_id(patient_id):
        raise Invalid("Patient.id", f"{patient_id!r} is not a Carelog patient id", "value")
    if patient_id is None and not identifiers:
        raise Invalid("Patient.identifier", "a Patient needs an id or an identifier", "required")
    labels = _labels(resource, "Patient")
    return ImportedPatient(
        resource_id, version, content_hash(resource), patient_id, identifiers, labels
    )


def _status(resource: Resource, kind: str, mapped: Mapped) -> str:
    for at, extension in extensions(resource, c.STATUS_EXTENSION):
        code = extension.get("valueCode")
        if code not in _STATUSES:
            where = f"{kind}.extension[{at}].valueCode"
            raise Invalid(
                where, f"status {code!r} is not one of {', '.join(_STATUSES)}", "code-invalid"
            )
        return str(code)
    return mapped.status


def _mismatch(error_type: str) -> bool:
    return error_type.endswith(("_type", "_parsing"))


def _check(mapped: Mapped, kind: str) -> list[Issue]:
    """The payload against its type's schema (``clinical.check_payload``'s models), each
    failing field at the element it came from."""
    issues = []
    if not _EVENT_TYPE.match(mapped.event_type):
        issues.append(Issue(kind, f"{mapped.event_type!r} is not an event type", "value"))
    model = EVENT_TYPES.get(mapped.event_type)
    if model is not None:
        try:
            model.model_validate(mapped.payload)
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_input=False)
            # A union (a lab value is a number or a text) fails once per member: say the
            # member's constraint (too long), not that it is not the other member's type.
            specific = {str(e["loc"][:1]) for e in errors if not _mismatch(e["type"])}
            for error in errors:
                if _mismatch(error["type"]) and str(error["loc"][:1]) in specific:
                    continue
                name = ".".join(str(part) for part in error["loc"][:1])
                head = str(error["loc"][0]) if error["loc"] else ""
                element = mapped.fields.get(head)
                where = f"{kind}.{element}" if element else kind
                code = _PAYLOAD_CODES.get(error["type"], "value")
                issues.append(Issue(where, f"{name or 'payload'}: {error['msg']}", code))
    try:
        check_json_value(mapped.payload)
    except ValueError as exc:
        issues.append(Issue(kind, f"the payload cannot be stored: {exc}", "value"))
    return issues


def _read(resource: Resource, kind: str, resource_id: str | None, fast: bool = False) -> Read:
    version = (resource.get("meta") or {}).get("versionId")
    if resource.get("modifierExtension"):
        raise Invalid(
            f"{kind}.modifierExtension", "modifier extensions are not understood", "not-supported"
        )
    if kind == "Patient":
        return _patient(resource, resource_id, version)
    labels = _labels(resource, kind)
    reader = READERS.get(kind)
    mapped = reader(resource) if reader is not None else None
    if mapped is None:  # no typed mapping: the whole resource, never dropped
        mapped = Mapped(f"fhir.{kind}", copy.deepcopy(resource), GENERIC_TIMES)
    else:
        mapped.payload.update(json_extension(resource, c.EXTRA_EXTENSION) or {})
    element = "patient" if "patient" in resource and "subject" not in resource else "subject"
    if element not in resource and reader is None:
        # An Organization, a Practitioner...: Carelog keeps events of a patient only.
        message = f"a {kind} is about no patient (no subject or patient): not stored"
        raise Invalid(kind, message, "not-supported")
    patient = patient_ref(resource.get(element), f"{kind}.{element}")
    status = _status(resource, kind, mapped)
    if mapped.when is not None:
        occurred = date_time(mapped.when[1], f"{kind}.{mapped.when[0]}")
    else:
        occurred = first_time(resource, mapped.times, None if reader else kind)
    issues = _check(mapped, kind)
    if issues:
        return Rejected(kind, resource_id, tuple(issues))
    event_ids = [
        str(x["value"])
        for x in resource.get("identifier") or []
        if isinstance(x, dict) and x.get("system") == c.EVENT_IDENTIFIER and x.get("value")
    ]
    return Imported(
        resource_type=kind,
        resource_id=resource_id,
        version_id=None if version is None else str(version),
        content_hash=(fast_hash(resource) if fast else None) or content_hash(resource),
        patient=patient,
        event_type=mapped.event_type,
        payload=mapped.payload,
        occurred_at=occurred,
        labels=labels,
        status=status,
        event_identifier=event_ids[0] if event_ids else None,
    )


def merge_signs(reads: Iterable[Read]) -> list[Read]:
    """Vital sign Observations of one Carelog event (the same ``urn:carelog:event``
    identifier, patient, time, status and labels, as the export writes one per sign) as one
    ``vital_signs`` event; everything else as it is, in order. The merged event's id is
    the logical id the signs' ids share (``<id>-hr`` gives ``<id>``) and its hash the hash
    of theirs."""
    out: list[Read] = []
    groups: dict[tuple[Any, ...], int] = {}
    hashes: dict[int, list[str]] = {}
    for read in reads:
        if (
            not isinstance(read, Imported)
            or read.event_type != "vital_signs"
            or not read.event_identifier
        ):
            out.append(read)
            continue
        key = (read.event_identifier, read.patient, read.occurred_at, read.status, read.labels)
        at = groups.get(key)
        if at is None:
            groups[key] = len(out)
            hashes[len(out)] = [read.content_hash]
            logical = (read.resource_id or "").rpartition("-")[0] or read.resource_id
            out.append(replace(read, resource_id=logical, payload=dict(read.payload)))
            continue
        merged = out[at]
        assert isinstance(merged, Imported)
        merged.payload.update(read.payload)
        hashes[at].append(read.content_hash)
        digest = hashlib.sha256("".join(sorted(hashes[at])).encode()).hexdigest()
        out[at] = replace(merged, content_hash=digest)
    return out
