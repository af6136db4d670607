"""The analyte table: common lab tests with their LOINC codes, name synonyms and what makes a
unit conversion across dimensions defined for them (molar mass, ionic charge, the NGSP/IFCC
HbA1c equation). Data only; ``domain.units`` converts with it."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

__all__ = ["ANALYTES", "Analyte"]


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
