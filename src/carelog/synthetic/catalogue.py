"""What the synthetic population is made of: chronic conditions with their codes, who gets
them, the drugs that treat them and the labs and signs that follow them.

Codes are real: ICD-10-CM and SNOMED CT for conditions, RxNorm ingredient concepts for
drugs, LOINC with UCUM units for labs (the same codes as ``domain.analytes``), so the
context builder and search treat generated events as they would real ones. The numbers are
plausible, not clinical guidance: ranges as lab reports print them, effects of treatment of
the size trials report, rounded.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Lab:
    """A lab test as reported: its LOINC code, name, unit, reference range and decimals."""

    loinc: str
    test: str
    unit: str
    low: float | None
    high: float | None
    decimals: int


LABS: dict[str, Lab] = {
    "hba1c": Lab("4548-4", "Hemoglobin A1c", "%", 4.0, 5.6, 1),
    "glucose": Lab("2345-7", "Glucose", "mg/dL", 70, 99, 0),
    "creatinine": Lab("2160-0", "Creatinine", "mg/dL", 0.6, 1.3, 2),
    "egfr": Lab("62238-1", "eGFR (CKD-EPI)", "mL/min/{1.73_m2}", 60, None, 0),
    "potassium": Lab("2823-3", "Potassium", "mmol/L", 3.5, 5.1, 1),
    "sodium": Lab("2951-2", "Sodium", "mmol/L", 136, 145, 0),
    "ldl": Lab("13457-7", "LDL cholesterol (calculated)", "mg/dL", None, 100, 0),
    "cholesterol": Lab("2093-3", "Cholesterol", "mg/dL", None, 200, 0),
    "uacr": Lab("9318-7", "Albumin/Creatinine ratio, urine", "mg/g", None, 30, 0),
    "hemoglobin": Lab("718-7", "Hemoglobin", "g/dL", 12.0, 17.5, 1),
    "phq9": Lab("44261-6", "PHQ-9 total score", "{score}", None, 4, 0),
}


@dataclass(frozen=True, slots=True)
class Drug:
    """A medication as prescribed: RxNorm ingredient, name, dose, route, frequency."""

    rxnorm: str
    name: str
    dose: str
    route: str
    frequency: str


DRUGS: dict[str, Drug] = {
    "metformin": Drug("6809", "metformin", "500 mg", "oral", "twice daily"),
    "empagliflozin": Drug("1545653", "empagliflozin", "10 mg", "oral", "once daily"),
    "insulin_glargine": Drug("274783", "insulin glargine", "10 units", "subcutaneous", "nightly"),
    "lisinopril": Drug("29046", "lisinopril", "10 mg", "oral", "once daily"),
    "amlodipine": Drug("17767", "amlodipine", "5 mg", "oral", "once daily"),
    "losartan": Drug("52175", "losartan", "50 mg", "oral", "once daily"),
    "atorvastatin": Drug("83367", "atorvastatin", "20 mg", "oral", "once daily"),
    "albuterol": Drug("435", "albuterol inhaler", "90 mcg, 2 puffs", "inhaled", "as needed"),
    "fluticasone": Drug("41126", "fluticasone inhaler", "110 mcg", "inhaled", "twice daily"),
    "sertraline": Drug("36437", "sertraline", "50 mg", "oral", "once daily"),
    "escitalopram": Drug("321988", "escitalopram", "10 mg", "oral", "once daily"),
}


@dataclass(frozen=True, slots=True)
class Chronic:
    """A chronic condition: codes, how common it is by age, how it is treated and followed.

    ``prevalence`` is the share of adults of 18-44, 45-64 and 65+ who have it. ``first`` is
    the first-line drug and ``second`` the one added when the target is missed; ``watch``
    are the labs its follow-up visits order; ``labels`` the sensitivity labels its events
    carry (depression is behavioral health: ``BH``).
    """

    key: str
    name: str
    icd10: str
    snomed: str
    prevalence: tuple[float, float, float]
    first: str
    second: str | None
    watch: tuple[str, ...]
    follow_up_months: int
    symptoms: tuple[str, ...]
    labels: tuple[str, ...] = ()


CONDITIONS: tuple[Chronic, ...] = (
    Chronic(
        "hypertension", "Essential hypertension", "I10", "38341003",
        (0.10, 0.33, 0.60), "lisinopril", "amlodipine", ("potassium", "creatinine"), 6,
        ("headache", "dizziness"),
    ),
    Chronic(
        "diabetes", "Type 2 diabetes mellitus without complications", "E11.9", "44054006",
        (0.04, 0.15, 0.25), "metformin", "empagliflozin", ("hba1c", "glucose", "uacr"), 3,
        ("polyuria", "thirst", "fatigue"),
    ),
    Chronic(
        "hyperlipidemia", "Hyperlipidemia, unspecified", "E78.5", "55822004",
        (0.10, 0.30, 0.45), "atorvastatin", None, ("ldl", "cholesterol"), 12, (),
    ),
    Chronic(
        "ckd", "Chronic kidney disease, stage 3 unspecified", "N18.30", "433144002",
        (0.01, 0.06, 0.20), "losartan", None, ("egfr", "creatinine", "potassium", "uacr"), 6,
        ("fatigue", "ankle swelling"),
    ),
    Chronic(
        "asthma", "Asthma, unspecified, uncomplicated", "J45.909", "195967001",
        (0.09, 0.08, 0.07), "albuterol", "fluticasone", (), 12,
        ("wheezing", "shortness of breath", "cough", "chest tightness"),
    ),
    Chronic(
        "depression", "Major depressive disorder, single episode, unspecified", "F32.9",
        "35489007", (0.09, 0.07, 0.05), "sertraline", "escitalopram", ("phq9",), 3,
        ("low mood", "poor sleep", "loss of interest"),
        labels=("BH",),
    ),
)  # fmt: skip
CHRONIC = {chronic.key: chronic for chronic in CONDITIONS}
# The order conditions are drawn in, and those that make others likelier (diabetes and
# hypertension harm the kidneys): a factor on the other's prevalence.
DRAW_ORDER = ("diabetes", "hypertension", "hyperlipidemia", "ckd", "asthma", "depression")
BOOSTS: dict[str, dict[str, float]] = {
    "diabetes": {"hypertension": 1.5, "hyperlipidemia": 1.5, "ckd": 2.5},
    "hypertension": {"ckd": 1.8},
}


@dataclass(frozen=True, slots=True)
class Allergen:
    """A substance some patients are allergic to, and the reaction it gives."""

    substance: str
    code_system: str  # "rxnorm" or "snomed"
    code: str
    reaction: str
    share: float


ALLERGENS: tuple[Allergen, ...] = (
    Allergen("penicillin", "rxnorm", "70618", "hives", 0.08),
    Allergen("sulfamethoxazole", "rxnorm", "10180", "rash", 0.03),
    Allergen("peanut", "snomed", "256349002", "anaphylaxis", 0.01),
)

# Acute visits anyone may have: (reason, symptoms, severity, disposition).
ACUTE: tuple[tuple[str, tuple[str, ...], str, str], ...] = (
    ("upper respiratory infection", ("fever", "cough", "sore throat"), "mild", "home care"),
    ("influenza-like illness", ("fever", "cough", "body aches"), "moderate", "home care"),
    ("low back pain", ("back pain",), "mild", "home care"),
    ("chest pain", ("chest pain", "shortness of breath"), "high", "escalate to clinician"),
    ("urinary tract infection", ("dysuria", "frequency"), "mild", "clinic visit"),
)
