-- Search: full text over notes and documents, and coded facts by their code.
-- Full text: every string in the payload of note-like events, English stemming.
CREATE INDEX patient_events_text
    ON patient_events USING gin (jsonb_to_tsvector('english', payload, '["string"]'))
    WHERE event_type IN ('triage_note', 'document', 'encounter', 'agent_decision');

-- Codes (LOINC, RxNorm, ICD-10-CM, SNOMED CT) by containment, e.g. payload @> {"loinc": ...}.
CREATE INDEX patient_events_coded
    ON patient_events USING gin (payload jsonb_path_ops)
    WHERE event_type IN ('lab_result', 'medication', 'condition', 'allergy');
