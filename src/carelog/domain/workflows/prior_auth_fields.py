"""The fields of a prior-authorization case: codes, dates and references in the shapes a
payer reads them, the requested lines, the payer's decision on a line, the approval, and
the case as the API answers it."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic_core import PydanticCustomError

from carelog.domain.limits import documented, no_duplicates
from carelog.domain.workflows.definition import Body, CaseView, Reason
from carelog.domain.workflows.payers import Description, Name, PayerId, ServiceCode


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def absent() -> Any:
    """The default of an optional field that is not nullable: it is left out, never null
    (a null is refused as any other wrong type is, with one error)."""
    return Field(default=None, json_schema_extra=_no_default)


Urgency = Literal["expedited", "standard"]
Channel = Literal["fhir_pas", "x12_278", "portal", "fax"]
# ICD-10-CM: a letter, two characters, and up to four more after the dot.
DiagnosisCode = Annotated[str, StringConstraints(pattern=r"^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$")]
Reference = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}$")]
ReasonCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9.\-]{0,15}$")]
Quantity = Annotated[int, Field(ge=1, le=9999)]
Sequence_ = Annotated[int, Field(ge=1, le=50)]
_DATE = r"^(18|19|20|21)\d{2}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$"


def _date_text(value: Any) -> Any:
    # A date as YYYY-MM-DD text only (pydantic would read a number as a time since 1970).
    if isinstance(value, str) and re.match(_DATE, value):
        return value
    raise ValueError("must be a date, YYYY-MM-DD")


ServiceDate = Annotated[date, BeforeValidator(_date_text), documented(pattern=_DATE)]


def _npi_check_digit(value: str) -> str:
    # The NPI's last digit is a Luhn check digit over "80840" and its first nine digits.
    digits = [int(c) for c in "80840" + value[:9]]
    total = sum(d if i % 2 else (d * 2 - 9 if d * 2 > 9 else d * 2) for i, d in enumerate(
        reversed(digits)))  # fmt: skip
    if (10 - total % 10) % 10 != int(value[9]):
        raise PydanticCustomError(
            "npi_check_digit", "not a valid NPI (its check digit does not match)"
        )
    return value


Npi = Annotated[str, StringConstraints(pattern=r"^[0-9]{10}$"), AfterValidator(_npi_check_digit)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PayerRef(Strict):
    id: PayerId
    name: Name | None = Field(default=None, description="Default: the payer table's name.")


class Provider(Strict):
    npi: Npi
    name: Name | None = None


class ServiceLine(Strict):
    """One requested service: what, how many, when."""

    code: ServiceCode = Field(description="CPT or HCPCS Level II code.")
    description: Description
    quantity: Quantity = 1
    service_from: ServiceDate
    service_to: ServiceDate | None = None

    @model_validator(mode="after")
    def _in_order(self) -> ServiceLine:
        if self.service_to is not None and self.service_to < self.service_from:
            raise PydanticCustomError("date_order", "service_to is before service_from")
        return self


Lines = Annotated[list[ServiceLine], Field(min_length=1, max_length=50)]
Diagnoses = Annotated[
    list[DiagnosisCode],
    BeforeValidator(no_duplicates),
    Field(min_length=1, max_length=12),
    documented(uniqueItems=True),
]


class Authorization(Strict):
    number: Reference = Field(description="The payer's authorization number.")
    valid_from: ServiceDate
    valid_until: ServiceDate

    @model_validator(mode="after")
    def _in_order(self) -> Authorization:
        if self.valid_until < self.valid_from:
            raise PydanticCustomError("date_order", "valid_until is before valid_from")
        return self


class _Decision(Body):
    """The payer's decision on one line: a PAS review action (X12 306), with its reason
    (X12 886) where it is not a plain certification."""

    sequence: Sequence_ = Field(description="The line's sequence number.")
    reason: Reason | None = None
    reason_code: ReasonCode | None = Field(default=None, description="The payer's code.")


class Certified(_Decision):
    action: Literal["certified"] = Field(description="A1: certified in total.")


class NotCertified(_Decision):
    action: Literal["not_certified"] = Field(description="A3: denied (a specific reason).")
    reason: Reason


class Pended(_Decision):
    action: Literal["pended"] = Field(description="A4: more information needed (what).")
    reason: Reason


class Cancelled(_Decision):
    action: Literal["cancelled"] = Field(description="C: cancelled.")


class Partial(_Decision):
    action: Literal["partial"] = Field(description="A2: certified for less than asked.")
    reason: Reason
    approved_quantity: Quantity


class Modified(_Decision):
    """A6: certified with a change (one at least of the approved_* fields)."""

    model_config = ConfigDict(
        json_schema_extra={"anyOf": [{"required": [name]} for name in (
            "approved_code", "approved_quantity", "approved_from", "approved_to")]}
    )  # fmt: skip

    action: Literal["modified"]
    reason: Reason
    approved_code: ServiceCode = absent()
    approved_quantity: Quantity = absent()
    approved_from: ServiceDate = absent()
    approved_to: ServiceDate = absent()

    @model_validator(mode="after")
    def _changes_something(self) -> Modified:
        if not self.stored({"action", "reason", "reason_code", "sequence"}):
            raise ValueError("a modified line says what was approved instead (approved_*)")
        return self


LineDecision = Annotated[
    Certified | NotCertified | Pended | Cancelled | Partial | Modified,
    Field(discriminator="action"),
]


class ChecklistItem(BaseModel):
    id: str
    code: str | None
    description: str
    kind: str
    source: str = Field(description="payer (its rules) or payer-request (asked when pended).")
    satisfied_by: int | None = Field(description="The event that satisfies it.")


class LineView(ServiceLine):
    model_config = ConfigDict(extra="allow")

    sequence: int
    requires_auth: bool | None = Field(description="Per the payer table (None: not listed).")
    decision: dict[str, Any] | None = Field(description="The payer's decision on it.")


class PriorAuthView(CaseView):
    """A prior-authorization case: the request, its checklist, its decisions and clock."""

    payer: PayerRef
    lines: list[LineView]
    diagnosis_codes: list[str]
    urgency: Urgency
    ordering_provider: Provider
    channel: Channel
    tracking_number: str | None = None
    notes: str | None = None
    checklist: list[ChecklistItem] | None = None
    authorization: Authorization | None = None
    review: Literal["initial", "appeal"] | None = None
    first_submitted_at: str | None = None
    submitted_at: str | None = None
    decided_at: str | None = None
    respond_by: str | None = None
    extension: dict[str, int] | None = None
