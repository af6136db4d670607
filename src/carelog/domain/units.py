"""Lab units and analytes: compare results like with like.

The context builder trends a lab series, so two results must be in one unit before they are
compared, and a free-text result ("HbA1c") should join the coded series it names (LOINC 4548-4).
This module holds the two small, pure tables that allow it:

- a UCUM parser for the simple terms lab results use (an optional prefix, an atom, an optional
  exponent 1-3, ``10*N``, one optional ``/`` and annotations in braces), with exact scale factors;
- a table of about thirty common analytes: their LOINC codes, name synonyms, and what makes a
  conversion across dimensions defined for them (molar mass, ionic charge, the NGSP/IFCC
  HbA1c equation).

Limits, on purpose: only UCUM case-sensitive codes are read ("mg/dL", "m[IU]/L", "meq/L"); the
common non-UCUM spellings ("mEq/L", "mIU/L", "µg/L", "mcg") and anything longer than 40
characters are unknown, and an unknown unit never converts (a guess would put a wrong number in
front of a clinician). A mass and a molar concentration convert only for an analyte with a molar
mass in the table. This is not a terminology service: names outside the table are unknown.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

__all__ = ["ANALYTES", "Analyte", "analyte_loincs", "convert", "normalise_name"]

_MAX_UNIT_CHARS = 40
_MAX_NAME_CHARS = 200
_MAX_POWER_OF_TEN = 24  # 10*N beyond yotta is not a lab unit

# Dimensions are exponents over these base quantities. U is an enzyme unit (umol/min); [IU] is
# read as U, the clinical convention for enzyme activity (UCUM keeps them apart).
_G, _MOL, _M, _U, _EQ = range(5)
_SUBSTANCE = (_G, _MOL, _EQ)
_NONE = (0, 0, 0, 0, 0)

_Dims = tuple[int, int, int, int, int]


def _dim(axis: int, power: int = 1) -> _Dims:
    out = [0, 0, 0, 0, 0]
    out[axis] = power
    return (out[0], out[1], out[2], out[3], out[4])


_PREFIXES: dict[str, Fraction] = {
    "k": Fraction(10**3),
    "h": Fraction(10**2),
    "da": Fraction(10),
    "d": Fraction(1, 10),
    "c": Fraction(1, 10**2),
    "m": Fraction(1, 10**3),
    "u": Fraction(1, 10**6),
    "n": Fraction(1, 10**9),
    "p": Fraction(1, 10**12),
    "f": Fraction(1, 10**15),
}

_LB = Fraction("453.59237")  # international avoirdupois pound, exact by definition (1959)
_INCH = Fraction("0.0254")  # international inch, exact by definition (1959)

# atom -> (factor to the base unit, dimensions, accepts a prefix). The litre is 1/1000 m3; UCUM
# spells it "L" or "l".
_ATOMS: dict[str, tuple[Fraction, _Dims, bool]] = {
    "g": (Fraction(1), _dim(_G), True),
    "mol": (Fraction(1), _dim(_MOL), True),
    "eq": (Fraction(1), _dim(_EQ), True),
    "L": (Fraction(1, 1000), _dim(_M, 3), True),
    "l": (Fraction(1, 1000), _dim(_M, 3), True),
    "m": (Fraction(1), _dim(_M), True),
    "U": (Fraction(1), _dim(_U), True),
    "[IU]": (Fraction(1), _dim(_U), True),
    "[iU]": (Fraction(1), _dim(_U), True),
    "[lb_av]": (_LB, _dim(_G), False),
    "[oz_av]": (_LB / 16, _dim(_G), False),
    "[in_i]": (_INCH, _dim(_M), False),
    "[ft_i]": (_INCH * 12, _dim(_M), False),
    "%": (Fraction(1, 100), _NONE, False),
}

# Temperatures are affine: unit -> (scale, offset) with Celsius = value * scale + offset.
_TEMPERATURES: dict[str, tuple[Fraction, Fraction]] = {
    "Cel": (Fraction(1), Fraction(0)),
    "K": (Fraction(1), Fraction("-273.15")),
    "[degF]": (Fraction(5, 9), Fraction(-160, 9)),
}

_ANNOTATION = re.compile(r"\{[!-z|~]*\}")  # UCUM: printable ASCII except braces
_POWER_OF_TEN = re.compile(r"10[*^]([+-]?[0-9]{1,3})")
_SIMPLE = re.compile(r"([A-Za-z%\[\]_]+)([1-3]?)")
_NOT_ALNUM = re.compile(r"[\W_]+")


@dataclass(frozen=True, slots=True)
class _Unit:
    factor: Fraction  # value in this unit * factor = value in base units
    num: _Dims
    den: _Dims


def _term(text: str) -> tuple[Fraction, _Dims] | None:
    """One UCUM term without annotations: ``1``, ``10*N``, or [prefix]atom[exponent]."""
    if text == "1":
        return Fraction(1), _NONE
    power = _POWER_OF_TEN.fullmatch(text)
    if power is not None:
        n = int(power.group(1))
        return (Fraction(10) ** n, _NONE) if abs(n) <= _MAX_POWER_OF_TEN else None
    simple = _SIMPLE.fullmatch(text)
    if simple is None:
        return None
    name, exponent = simple.group(1), int(simple.group(2) or "1")
    atom = _ATOMS.get(name)
    factor = Fraction(1)
    if atom is None:
        for prefix in ("da", *(p for p in _PREFIXES if len(p) == 1)):
            candidate = _ATOMS.get(name[len(prefix) :]) if name.startswith(prefix) else None
            if candidate is not None and candidate[2]:
                atom, factor = candidate, _PREFIXES[prefix]
                break
    if atom is None:
        return None
    scale, dims, _ = atom
    a, b, c, d, e = (x * exponent for x in dims)
    return (factor * scale) ** exponent, (a, b, c, d, e)


@dataclass(frozen=True, slots=True)
class _Affine:
    scale: Fraction  # Celsius = value * scale + offset
    offset: Fraction


@lru_cache(maxsize=512)
def _parse(unit: str) -> _Unit | _Affine | None:
    """A unit string as a scaled dimension or a temperature scale, or None if unknown."""
    if not 0 < len(unit) <= _MAX_UNIT_CHARS or not all("!" <= ch <= "~" for ch in unit):
        return None
    numerator, slash, denominator = unit.partition("/")
    numerator = _ANNOTATION.sub("", numerator)
    if not slash:
        if numerator in _TEMPERATURES:
            return _Affine(*_TEMPERATURES[numerator])
        term = _term(numerator)  # an annotation alone ("{score}") is no term: unknown
        return None if term is None else _Unit(term[0], term[1], _NONE)
    # "/uL" and "{cells}/uL": an empty numerator is 1. One "/" only: "mg/dL/dL" is unknown.
    num = _term(numerator) if numerator else (Fraction(1), _NONE)
    den = _term(_ANNOTATION.sub("", denominator))
    if num is None or den is None:
        return None
    return _Unit(num[0] / den[0], num[1], den[1])


@dataclass(frozen=True, slots=True)
class Analyte:
    """A common lab analyte: its LOINC codes, its names, what its conversions may use."""

    key: str
    loincs: frozenset[str]
    names: frozenset[str]  # already in normalise_name form
    molar_mass: Fraction | None = None  # g/mol: mass <-> molar concentration
    charge: int | None = None  # |ionic charge|: eq <-> mol
    ngsp_ifcc: bool = False  # HbA1c: % (NGSP/DCCT) <-> mmol/mol (IFCC)


def _a(
    key: str,
    loincs: str,
    names: str,
    molar_mass: str | None = None,
    charge: int | None = None,
    *,
    ngsp_ifcc: bool = False,
) -> Analyte:
    return Analyte(
        key,
        frozenset(loincs.split()),
        frozenset(n.strip() for n in names.split(",")),
        None if molar_mass is None else Fraction(molar_mass),
        charge,
        ngsp_ifcc,
    )


# Molar masses from IUPAC standard atomic weights unless a lab convention says otherwise. Codes
# are LOINC serum/plasma (or blood) quantitative terms; names are deliberately conservative: a
# name that could mean two analytes is left out, and a missing join only costs a trend line.
ANALYTES: tuple[Analyte, ...] = (
    _a(
        "hba1c",
        "4548-4 17856-6 4549-2 59261-8",
        "hba1c, hb a1c, hgba1c, hgb a1c, a1c, hemoglobin a1c, haemoglobin a1c, "
        "glycated hemoglobin, glycated haemoglobin, glycohemoglobin, glycohaemoglobin, "
        "glycosylated hemoglobin, glycosylated haemoglobin",
        ngsp_ifcc=True,
    ),
    # C6H12O6. Blood and serum/plasma glucose join: same substance, same trend. Not "glu":
    # amino acid panels use it for glutamate.
    _a(
        "glucose",
        "2345-7 2339-0 14749-6 15074-8",
        "glucose, blood glucose, plasma glucose, serum glucose, blood sugar",
        "180.156",
    ),
    # Fasting glucose is its own LOINC observable; it does not join the random series.
    _a("fasting_glucose", "1558-6", "fasting glucose, fasting blood glucose, fbg", "180.156"),
    # LDL and HDL are reported as their cholesterol content: C27H46O (mg/dL / 38.67 = mmol/L).
    _a(
        "ldl",
        "2089-1 13457-7 18262-6",
        "ldl, ldl c, ldlc, ldl cholesterol, cholesterol ldl, low density lipoprotein cholesterol",
        "386.65",
    ),
    _a(
        "hdl",
        "2085-9",
        "hdl, hdl c, hdlc, hdl cholesterol, cholesterol hdl, high density lipoprotein cholesterol",
        "386.65",
    ),
    # "cholesterol" alone is total cholesterol: LOINC's own component name for 2093-3, and how
    # lab reports print it.
    _a(
        "cholesterol", "2093-3", "cholesterol, total cholesterol, cholesterol total, chol", "386.65"
    ),
    # The lab convention mg/dL / 88.57 = mmol/L (close to triolein, C57H104O6, 885.4).
    _a("triglycerides", "2571-8", "triglycerides, triglyceride, tg, trig, trigs", "885.7"),
    # C4H7N3O (1 mg/dL = 88.4 umol/L).
    _a(
        "creatinine",
        "2160-0 14682-9",
        "creatinine, serum creatinine, creatinine serum, creat",
        "113.12",
    ),
    # BUN counts urea's two nitrogens: as N2, BUN mg/dL * 0.357 = urea mmol/L. "urea" is left
    # out: urea in mg/dL is a different mass.
    _a("bun", "3094-0", "bun, urea nitrogen, blood urea nitrogen", "28.014"),
    # Element symbols are left out as names: "NA" also reads as "not available".
    _a("sodium", "2951-2 2947-0", "sodium, serum sodium", "22.990", 1),
    _a("potassium", "2823-3 6298-4", "potassium, serum potassium", "39.098", 1),
    _a("chloride", "2075-0", "chloride, serum chloride", "35.453", 1),
    _a("bicarbonate", "1963-8", "bicarbonate, hco3, serum bicarbonate", None, 1),
    # Total calcium (ionized calcium has its own codes and is not a synonym).
    _a(
        "calcium",
        "17861-6 2000-8",
        "calcium, total calcium, calcium total, serum calcium",
        "40.078",
        2,
    ),
    _a("magnesium", "19123-9 2601-3", "magnesium, serum magnesium", "24.305", 2),
    # Reported as elemental phosphorus (mg/dL * 0.3229 = mmol/L); its charge depends on pH.
    _a("phosphate", "2777-1 14879-1", "phosphate, phosphorus, inorganic phosphate", "30.974"),
    _a("uric_acid", "3084-1", "uric acid, urate", "168.11"),  # C5H4N4O3
    # C33H36N4O6 (1 mg/dL = 17.1 umol/L).
    _a(
        "bilirubin",
        "1975-2 14631-6",
        "bilirubin, total bilirubin, bilirubin total, tbili, t bili",
        "584.66",
    ),
    _a("iron", "2498-4", "iron, serum iron", "55.845"),
    _a("free_t4", "3024-7", "free t4, ft4, free thyroxine", "776.87"),  # C15H11I4NO4
    # Proteins, cells and enzymes: no molar conversion (haemoglobin's mmol/L depends on whether
    # the monomer or the tetramer is counted).
    _a("hemoglobin", "718-7", "hemoglobin, haemoglobin, hgb, hb"),
    _a("albumin", "1751-7", "albumin, serum albumin, alb"),
    _a("ferritin", "2276-4", "ferritin, serum ferritin"),
    _a("platelets", "777-3", "platelets, platelet, platelet count, plt"),
    _a(
        "wbc",
        "6690-2",
        "wbc, wbc count, white blood cells, white blood cell count, white cell count, "
        "leukocytes, leucocytes",
    ),
    _a("tsh", "3016-3", "tsh, thyrotropin, thyroid stimulating hormone"),
    _a("alt", "1742-6", "alt, sgpt, alanine aminotransferase, alanine transaminase"),
    _a("ast", "1920-8", "ast, sgot, aspartate aminotransferase, aspartate transaminase"),
    # MDRD (33914-3), CKD-EPI (62238-1) and CKD-EPI 2021 (98979-8) estimates.
    _a(
        "egfr",
        "33914-3 62238-1 98979-8",
        "egfr, estimated gfr, estimated glomerular filtration rate",
    ),
)

_BY_LOINC: dict[str, Analyte] = {code: a for a in ANALYTES for code in a.loincs}


def _index_names() -> dict[str, tuple[Analyte, ...]]:
    index: dict[str, tuple[Analyte, ...]] = {}
    for analyte in ANALYTES:
        for name in analyte.names:
            index[name] = (*index.get(name, ()), analyte)
    return index


_BY_NAME = _index_names()


def normalise_name(text: str) -> str:
    """``text`` as a lookup key: NFKC, casefolded, each run of non-alphanumerics one space.

    ``"  Hb-A1c "`` -> ``"hb a1c"``; ``"HbA1c"`` -> ``"hba1c"``.
    """
    folded = unicodedata.normalize("NFKC", text).casefold()
    return _NOT_ALNUM.sub(" ", folded).strip()


def _analyte_by_name(name: str) -> Analyte | None:
    if len(name) > _MAX_NAME_CHARS:
        return None
    found = _BY_NAME.get(normalise_name(name), ())
    return found[0] if len(found) == 1 else None


def analyte_loincs(name: str) -> frozenset[str]:
    """The LOINC codes of the analyte a free-text test name denotes, or an empty set.

    Empty when the name is unknown or names more than one analyte.
    """
    analyte = _analyte_by_name(name)
    return analyte.loincs if analyte is not None else frozenset()


def _substance(dims: _Dims) -> tuple[int, _Dims] | None:
    """Which of mass, amount or equivalents ``dims`` counts once, and the rest of it."""
    present = [axis for axis in _SUBSTANCE if dims[axis] != 0]
    if len(present) != 1 or dims[present[0]] != 1:
        return None
    rest = list(dims)
    rest[present[0]] = 0
    return present[0], (rest[0], rest[1], rest[2], rest[3], rest[4])


def _per_mol(axis: int, analyte: Analyte) -> Fraction | None:
    """How many base units of ``axis`` (g, mol or eq) one mole of ``analyte`` is."""
    if axis == _MOL:
        return Fraction(1)
    if axis == _G:
        return analyte.molar_mass
    return None if analyte.charge is None else Fraction(analyte.charge)


def _ifcc(value: float, src: _Unit, dst: _Unit) -> float | None:
    """HbA1c between a fraction (NGSP %) and an amount ratio (IFCC mmol/mol), either way."""
    fraction, ratio = _NONE, _dim(_MOL)
    if (src.num, src.den) == (fraction, fraction) and (dst.num, dst.den) == (ratio, ratio):
        percent = value * float(src.factor * 100)
        return 10.929 * (percent - 2.15) * float(Fraction(1, 1000) / dst.factor)
    if (src.num, src.den) == (ratio, ratio) and (dst.num, dst.den) == (fraction, fraction):
        mmol_per_mol = value * float(src.factor * 1000)
        return (mmol_per_mol / 10.929 + 2.15) * float(Fraction(1, 100) / dst.factor)
    return None


def _convert_units(value: float, src: _Unit, dst: _Unit, analyte: Analyte | None) -> float | None:
    if (src.num, src.den) == (dst.num, dst.den):
        return value * float(src.factor / dst.factor)
    if analyte is None:
        return None
    if analyte.ngsp_ifcc:
        return _ifcc(value, src, dst)
    from_sub, to_sub = _substance(src.num), _substance(dst.num)
    if from_sub is None or to_sub is None or from_sub[1] != to_sub[1] or src.den != dst.den:
        return None
    from_per_mol, to_per_mol = _per_mol(from_sub[0], analyte), _per_mol(to_sub[0], analyte)
    if from_per_mol is None or to_per_mol is None:
        return None
    return value * float(src.factor / from_per_mol * to_per_mol / dst.factor)


def convert(
    value: float,
    from_unit: str,
    to_unit: str,
    *,
    loinc: str | None = None,
    test: str | None = None,
) -> float | None:
    """``value`` in ``from_unit`` expressed in ``to_unit`` (UCUM case-sensitive codes).

    None when no conversion is defined. The same unit string returns ``value`` (even a unit this
    module does not know). Within one dimension a conversion is always defined (mass or molar
    concentration, counts per volume, enzyme activity, mass, length, temperature, fractions);
    across dimensions only for the analyte (by ``loinc`` if given and known, else by ``test``
    name): mass <-> molar concentration by its molar mass, eq <-> mol by its charge, HbA1c
    % <-> mmol/mol by IFCC = 10.929 * (NGSP - 2.15). Annotations ("{cells}/uL", "mg/dL{calc}")
    do not change a unit's meaning, but an annotation alone ("{score}") is unknown. Unknown
    units, non-finite values and non-finite results give None.
    """
    if not math.isfinite(value):
        return None
    if from_unit == to_unit:
        return float(value)
    src, dst = _parse(from_unit), _parse(to_unit)
    if src is None or dst is None:
        return None
    result: float | None = None
    if isinstance(src, _Affine) and isinstance(dst, _Affine):
        celsius = value * float(src.scale) + float(src.offset)
        result = (celsius - float(dst.offset)) / float(dst.scale)
    elif isinstance(src, _Unit) and isinstance(dst, _Unit):
        analyte = _BY_LOINC.get(loinc) if loinc is not None else None
        if analyte is None and test is not None:
            analyte = _analyte_by_name(test)
        result = _convert_units(value, src, dst, analyte)
    return result if result is not None and math.isfinite(result) else None
