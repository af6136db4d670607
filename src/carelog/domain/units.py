"""Lab units and analytes: compare results like with like.

The context builder trends a lab series, so two results must be in one unit before they are
compared, and a free-text result ("HbA1c") should join the coded series it names (LOINC 4548-4).
This module and its table allow it:

- a UCUM parser for the simple terms lab results use (an optional prefix, an atom, an optional
  exponent 1-3, ``10*N``, one optional ``/`` and annotations in braces), with exact scale factors;
- the table of about thirty common analytes in ``domain.analytes``: their LOINC codes, name
  synonyms, and what makes a conversion across dimensions defined for them (molar mass, ionic
  charge, the NGSP/IFCC HbA1c equation).

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

from carelog.domain.analytes import ANALYTES, Analyte

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
