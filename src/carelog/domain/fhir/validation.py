"""A resource checked against FHIR R4 with ``fhir.resources`` (its R4B models, which are R4's
for the resources Carelog reads): structure, cardinality, primitive formats and the
invariants it implements. The one module of the domain that uses a FHIR library (with
``fast_observation``, which it imports; the rest of the mapping builds and reads plain
dicts); it is imported lazily, on the first validation, so that ``carelog.domain.fhir``
loads without it (the bare install exports FHIR too).

What it does not check: required value set bindings (a status ``bogus`` passes), which the
readers check where they map a code.

An Observation of the common shapes is checked first by ``fast_observation`` (a compiled
schema of exactly that shape, with the same constraints), about ten times faster; one it
does not accept goes through the full model, which gives the verdict and the issues."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from pydantic import BaseModel, ValidationError

from carelog.domain.fhir.imported import Issue, IssueCode

_CODES: dict[str, IssueCode] = {
    "missing": "required",
    "model_field_validation.missing": "required",
    "extra_forbidden": "structure",
    "string_too_long": "too-long",
    "too_long": "too-long",
}


@cache
def _fast() -> tuple[Callable[[dict[str, Any]], bool], Callable[[dict[str, Any]], str | None]]:
    from carelog.domain.fhir.fast_observation import accepts, content_hash

    return accepts, content_hash


def fast_accepts(resource: dict[str, Any]) -> bool:
    """Whether the fast check takes ``resource`` as valid R4 (a common Observation)."""
    return resource.get("resourceType") == "Observation" and _fast()[0](resource)


def fast_hash(resource: dict[str, Any]) -> str | None:
    """The content hash of a resource :func:`fast_accepts` took, sooner (``None``: hash it
    the usual way)."""
    return _fast()[1](resource)


@cache
def _model(resource_type: str) -> type[BaseModel] | None:
    from fhir.resources.R4B import get_fhir_model_class

    try:
        model: type[BaseModel] = get_fhir_model_class(resource_type)
    except (ValueError, KeyError, AttributeError, ImportError):
        return None
    return model


def is_resource_type(resource_type: str) -> bool:
    """Whether FHIR R4 has a resource of that name."""
    return _model(resource_type) is not None


def _path(resource_type: str, loc: tuple[int | str, ...]) -> str:
    path = resource_type
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in ("resource_type", "resourceType"):
            path += ".resourceType"
        elif not part.startswith("function-") and part not in ("__root__",):
            path += f".{part}"
    return path


def validate(resource: dict[str, Any], *, fast: bool = True) -> list[Issue]:
    """Every problem ``fhir.resources`` finds in ``resource`` (none when it is valid R4).
    With ``fast`` (the default) an Observation the fast check accepts is valid without the
    full model."""
    kind = resource.get("resourceType")
    if not isinstance(kind, str) or not kind:
        return [Issue("Resource.resourceType", "resourceType is required", "required")]
    if fast and fast_accepts(resource):
        return []
    model = _model(kind)
    if model is None:
        return [
            Issue(f"{kind}.resourceType", f"{kind!r} is not an R4 resource type", "not-supported")
        ]
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        issues = []
        for error in exc.errors(include_url=False, include_input=False):
            code = _CODES.get(error["type"], "value")
            if error["type"].startswith("fhir-validation") or not error["loc"]:
                code = "invalid"
            message = str(error["msg"]).removeprefix("Value error, ").strip()
            issues.append(Issue(_path(kind, tuple(error["loc"])), message, code))
        return issues
    except (TypeError, ValueError, RecursionError) as exc:  # a malformed primitive it chokes on
        return [Issue(kind, f"not a valid {kind}: {exc}", "structure")]
    return []
