"""Unit conversion and analyte names: the numbers a clinician would check by hand."""

from __future__ import annotations

import math
import re

import pytest

from carelog.domain.units import ANALYTES, analyte_loincs, convert, normalise_name

pytestmark = pytest.mark.unit

HBA1C_LOINCS = frozenset({"4548-4", "17856-6", "4549-2", "59261-8"})


def _loinc_check_digit(body: str) -> int:
    """The LOINC mod 10 check digit, step by step as the LOINC Users' Guide (appendix C) says."""
    from_right = body[::-1]
    odd = int(from_right[0::2]) * 2  # 1st, 3rd, ... digits from the right, doubled
    even = from_right[1::2]
    total = sum(int(d) for d in even + str(odd))
    return (10 - total % 10) % 10


def test_check_digit_matches_the_users_guide_example() -> None:
    assert _loinc_check_digit("12345") == 5
    assert _loinc_check_digit("4548") == 4


# --- hand-worked conversions -------------------------------------------------------------------


def test_glucose_mass_to_molar() -> None:
    # 126 mg/dL = 1260 mg/L; / 180.156 g/mol = 6.994 mmol/L
    assert convert(126, "mg/dL", "mmol/L", loinc="2345-7") == pytest.approx(6.994, abs=1e-3)
    assert convert(7.0, "mmol/L", "mg/dL", test="Blood glucose") == pytest.approx(126.1, abs=0.1)


def test_the_motivating_series_reads_up_once_in_one_unit() -> None:
    earlier = convert(126, "mg/dL", "mmol/L", loinc="2345-7")
    assert earlier is not None
    assert earlier < 8.0  # 8.0 mmol/L after 126 mg/dL is a rise


def test_creatinine_mass_to_molar() -> None:
    assert convert(1.0, "mg/dL", "umol/L", loinc="2160-0") == pytest.approx(88.4, abs=0.05)
    assert convert(88.4, "umol/L", "mg/dL", test="creatinine") == pytest.approx(1.0, abs=1e-3)


def test_hba1c_ngsp_to_ifcc_and_back() -> None:
    # 10.929 * (7.0 - 2.15) = 53.0
    assert convert(7.0, "%", "mmol/mol", loinc="4548-4") == pytest.approx(53.0, abs=0.01)
    assert convert(53.0, "mmol/mol", "%", loinc="59261-8") == pytest.approx(7.0, abs=0.01)
    assert convert(0.07, "1", "mmol/mol", test="HbA1c") == pytest.approx(53.0, abs=0.01)
    assert convert(48.0, "mmol/mol", "%", test="a1c") == pytest.approx(6.54, abs=0.01)


def test_hba1c_units_never_convert_as_plain_fractions() -> None:
    # Without the analyte, 53 mmol/mol is not 5.3 %: NGSP % and IFCC mmol/mol are different
    # measurands, so the unknown analyte gets no number at all.
    assert convert(53.0, "mmol/mol", "%") is None
    assert convert(53.0, "mmol/mol", "%", test="something else") is None


def test_ldl_molar_to_mass() -> None:
    # 5 mmol/L * 386.65 g/mol = 1933.25 mg/L = 193.3 mg/dL
    assert convert(5, "mmol/L", "mg/dL", loinc="13457-7") == pytest.approx(193.3, abs=0.05)


def test_other_molar_masses() -> None:
    assert convert(150, "mg/dL", "mmol/L", test="TG") == pytest.approx(1.694, abs=1e-3)
    assert convert(14, "mg/dL", "mmol/L", test="BUN") == pytest.approx(4.998, abs=1e-3)
    assert convert(10, "mg/dL", "mmol/L", loinc="17861-6") == pytest.approx(2.495, abs=1e-3)
    assert convert(1.0, "mg/dL", "umol/L", test="Total bilirubin") == pytest.approx(17.1, abs=0.01)
    assert convert(6.0, "mg/dL", "umol/L", test="uric acid") == pytest.approx(356.9, abs=0.1)


def test_equivalents_use_the_ionic_charge() -> None:
    assert convert(140, "meq/L", "mmol/L", loinc="2951-2") == pytest.approx(140)
    assert convert(2.5, "mmol/L", "meq/L", test="calcium") == pytest.approx(5.0)
    assert convert(140, "meq/L", "mmol/L") is None
    assert convert(1.0, "meq/L", "mmol/L", test="phosphate") is None


def test_temperature_is_affine() -> None:
    assert convert(98.6, "[degF]", "Cel") == pytest.approx(37.0)
    assert convert(37.0, "Cel", "[degF]") == pytest.approx(98.6)
    assert convert(0.0, "Cel", "K") == pytest.approx(273.15)
    assert convert(-40.0, "[degF]", "Cel") == pytest.approx(-40.0)
    assert convert(37.0, "Cel", "mg") is None
    assert convert(37.0, "mCel", "Cel") is None


def test_body_mass_and_height() -> None:
    assert convert(150, "[lb_av]", "kg") == pytest.approx(68.04, abs=0.005)
    assert convert(16, "[oz_av]", "[lb_av]") == pytest.approx(1.0)
    assert convert(6, "[ft_i]", "cm") == pytest.approx(182.88)
    assert convert(1, "[in_i]", "mm") == pytest.approx(25.4)


@pytest.mark.parametrize(
    ("value", "from_unit", "to_unit", "expected"),
    [
        (100.0, "mg/dL", "g/L", 1.0),
        (1.0, "g/dL", "mg/dL", 1000.0),
        (5.0, "ng/mL", "ug/L", 5.0),
        (5.0, "ng/mL", "ng/dL", 500.0),
        (3.0, "pg/mL", "ng/L", 3.0),
        (40.0, "ug/dL", "ug/L", 400.0),
        (2.0, "mg/L", "ug/mL", 2.0),
        (1.0, "mmol/L", "umol/L", 1000.0),
        (1.0, "nmol/L", "pmol/L", 1000.0),
        (7.5, "10*9/L", "10*3/uL", 7.5),
        (250.0, "10*3/uL", "10*9/L", 250.0),
        (4.5, "10*12/L", "10*6/uL", 4.5),
        (7500.0, "/uL", "10*9/L", 7.5),
        (7500.0, "/mm3", "/uL", 7500.0),
        (7500.0, "{cells}/uL", "10^3/uL", 7.5),
        (35.0, "U/L", "[IU]/L", 35.0),
        (2.5, "m[IU]/L", "u[IU]/mL", 2.5),
        (1.0, "L", "mL", 1000.0),
        (1.0, "dm3", "L", 1.0),
        (42.0, "%", "1", 0.42),
        (120.0, "mg/dL{calc}", "g/L", 1.2),
        (2.0, "kg", "g", 2000.0),
    ],
)
def test_same_dimension_scales_exactly(
    value: float, from_unit: str, to_unit: str, expected: float
) -> None:
    assert convert(value, from_unit, to_unit) == pytest.approx(expected, rel=1e-12)


def test_equivalent_count_units_are_exactly_equal() -> None:
    assert convert(7.3, "10*9/L", "10*3/uL") == 7.3
    assert convert(7.3, "/mm3", "/uL") == 7.3


@pytest.mark.parametrize(
    ("from_unit", "to_unit", "kw"),
    [
        ("mg/dL", "mmol/L", {"loinc": "2345-7"}),
        ("umol/L", "mg/dL", {"test": "Creatinine"}),
        ("%", "mmol/mol", {"test": "HbA1c"}),
        ("[degF]", "Cel", {}),
        ("[lb_av]", "kg", {}),
        ("10*9/L", "10*3/uL", {}),
        ("meq/L", "mg/dL", {"test": "calcium"}),
    ],
)
def test_round_trips(from_unit: str, to_unit: str, kw: dict[str, str]) -> None:
    for value in (0.5, 7.0, 126.0, 1234.5):
        there = convert(value, from_unit, to_unit, **kw)
        assert there is not None
        assert convert(there, to_unit, from_unit, **kw) == pytest.approx(value, rel=1e-12)


def test_mass_and_molar_need_a_known_analyte_with_a_molar_mass() -> None:
    assert convert(126, "mg/dL", "mmol/L") is None
    assert convert(126, "mg/dL", "mmol/L", loinc="99999-9", test="mystery") is None
    assert convert(13.5, "g/dL", "mmol/L", loinc="718-7") is None  # haemoglobin: no molar mass
    assert convert(4.0, "g/dL", "umol/L", test="albumin") is None


def test_loinc_wins_over_test_name_and_unknown_loinc_falls_back() -> None:
    assert convert(1.0, "mg/dL", "umol/L", loinc="2160-0", test="glucose") == pytest.approx(
        88.4, abs=0.05
    )
    assert convert(1.0, "mg/dL", "umol/L", loinc="0-0", test="creatinine") == pytest.approx(
        88.4, abs=0.05
    )


def test_unrelated_dimensions_never_convert() -> None:
    assert convert(1.0, "mg/dL", "U/L", test="glucose") is None
    assert convert(1.0, "mmol/L", "10*9/L", test="glucose") is None
    assert convert(1.0, "kg", "m") is None
    assert convert(1.0, "mg/dL", "%", test="glucose") is None
    assert convert(1.0, "mmol/mol", "%", test="glucose") is None


@pytest.mark.parametrize(
    "unit",
    ["mEq/L", "mIU/L", "µg/L", "mcg/L", "mg/dl/x", "MG/DL", "{score}", "kU/h", "mg%", "cc", ""],
)
def test_unknown_units_give_none(unit: str) -> None:
    assert convert(1.0, unit, "mg/dL", test="glucose") is None
    assert convert(1.0, "mg/dL", unit, test="glucose") is None


def test_same_unit_string_passes_through_even_when_unknown() -> None:
    assert convert(1.5, "mg/dL", "mg/dL") == 1.5
    assert convert(60, "mL/min/{1.73_m2}", "mL/min/{1.73_m2}") == 60.0
    assert convert(3, "{score}", "{score}") == 3.0


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_values_give_none(value: float) -> None:
    assert convert(value, "mg/dL", "mg/dL") is None
    assert convert(value, "mg/dL", "g/L") is None


def test_overflowing_results_give_none() -> None:
    assert convert(1e300, "10*24/fL", "/L") is None


@pytest.mark.parametrize(
    "unit",
    [
        "m" * 41,
        "mg/" + "d" * 10_000 + "L",
        "mg/dL" + "{x}" * 20,
        "mg/dL/dL",
        "10*999/L",
        "10^-99/L",
        "10*25/L",
        "mg\x00/dL",
        "mg/dL\n",
        " mg/dL",
        "mg/d L",
        "{{cells}}/uL",
        "{cells/uL",
        "mg/{x}",
        "/",
        "m4",
        "mmg",
        "[lb_av]2x",
        "k[lb_av]",
        "\u202emg/dL",
    ],
)
def test_hostile_units_give_none(unit: str) -> None:
    assert convert(1.0, unit, "g/L", test="glucose") is None
    assert convert(1.0, "g/L", unit, test="glucose") is None


def test_hostile_names_give_nothing() -> None:
    assert analyte_loincs("hba1c " * 10_000) == frozenset()
    assert analyte_loincs("\x00\x1b[31m") == frozenset()
    assert convert(1.0, "mg/dL", "umol/L", test="creatinine" * 1000) is None


# --- names -------------------------------------------------------------------------------------


def test_normalise_name() -> None:
    assert normalise_name("  Hb-A1c ") == "hb a1c"
    assert normalise_name("HbA1c") == "hba1c"
    assert normalise_name("LDL\u2013C (calc.)") == "ldl c calc"
    assert normalise_name("\uff27\uff4c\uff55\uff43\uff4f\uff53\uff45") == "glucose"  # fullwidth
    assert normalise_name("STRASSE_ß") == "strasse ss"
    assert normalise_name(" \t\n ") == ""


@pytest.mark.parametrize(
    "name",
    [
        "HbA1c",
        "hba1c",
        "Hb A1c",
        "HB-A1C",
        "A1c",
        "Hemoglobin A1c",
        "haemoglobin A1C",
        "Glycated hemoglobin",
        "glycohemoglobin",
        "  hba1c.  ",
    ],
)
def test_hba1c_synonyms(name: str) -> None:
    assert analyte_loincs(name) == HBA1C_LOINCS


def test_other_synonyms() -> None:
    assert analyte_loincs("LDL-C") == frozenset({"2089-1", "13457-7", "18262-6"})
    assert analyte_loincs("Cholesterol") == frozenset({"2093-3"})
    assert analyte_loincs("Blood Urea Nitrogen") == frozenset({"3094-0"})
    assert "2345-7" in analyte_loincs("Plasma glucose")
    assert analyte_loincs("Fasting glucose") == frozenset({"1558-6"})
    assert analyte_loincs("eGFR") == frozenset({"33914-3", "62238-1", "98979-8"})


@pytest.mark.parametrize(
    "name", ["", "unknown test", "NA", "K", "urea", "ionized calcium", "glu", "a1", "hba"]
)
def test_unknown_or_ambiguous_names_give_nothing(name: str) -> None:
    assert analyte_loincs(name) == frozenset()


# --- the table itself --------------------------------------------------------------------------


def test_table_has_no_name_in_two_analytes() -> None:
    seen: dict[str, str] = {}
    for analyte in ANALYTES:
        for name in analyte.names:
            assert name not in seen, f"{name!r} in {seen.get(name)} and {analyte.key}"
            seen[name] = analyte.key
    assert len({a.key for a in ANALYTES}) == len(ANALYTES)


def test_table_names_are_already_normalised() -> None:
    for analyte in ANALYTES:
        assert analyte.names
        for name in analyte.names:
            assert name, analyte.key
            assert normalise_name(name) == name, name


def test_table_has_no_loinc_in_two_analytes() -> None:
    seen: dict[str, str] = {}
    for analyte in ANALYTES:
        assert analyte.loincs
        for code in analyte.loincs:
            assert code not in seen, f"{code} in {seen.get(code)} and {analyte.key}"
            seen[code] = analyte.key


def test_every_loinc_is_well_formed_with_a_valid_check_digit() -> None:
    for analyte in ANALYTES:
        for code in analyte.loincs:
            assert re.fullmatch(r"\d{1,7}-\d", code), code
            body, check = code.split("-")
            assert _loinc_check_digit(body) == int(check), f"{code} ({analyte.key})"
            assert analyte_loincs(next(iter(analyte.names))) == analyte.loincs


def test_molar_masses_and_charges_are_plausible() -> None:
    for analyte in ANALYTES:
        if analyte.molar_mass is not None:
            assert 1 < analyte.molar_mass < 2000, analyte.key
        if analyte.charge is not None:
            assert analyte.charge in (1, 2, 3), analyte.key
