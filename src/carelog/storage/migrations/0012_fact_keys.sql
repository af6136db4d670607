-- What a coded event is about (its LOINC/ICD-10/SNOMED/RxNorm code, allergen, test or name,
-- lower-cased; '#<id>' when it names none), stored with the row so that a patient's context
-- finds the latest version of each fact with an index (a loose index scan over the facts, then
-- the newest rows of each) instead of a pass over all of the patient's events. The same rule
-- as fact_key() in domain/context.py, which the tests hold it to.
--
-- A stored column and not an expression index: under row-level security only leakproof
-- operators may be index conditions, and ->> and lower() are not, so a comparison with the
-- expression stays a filter over every row; with a plain text column it is an index condition.
-- Adding it rewrites the table once. carelog_event_json takes the row type, so (as in 0009)
-- PostgreSQL < 16 needs it dropped around the ALTER TABLE; its body is unchanged.

DROP FUNCTION carelog_event_json(patient_events);

ALTER TABLE patient_events ADD COLUMN fact_key text GENERATED ALWAYS AS (
    CASE WHEN event_type IN ('lab_result', 'allergy', 'condition', 'medication') THEN
        lower(COALESCE(NULLIF(payload ->> 'loinc', ''), NULLIF(payload ->> 'icd10', ''),
                       NULLIF(payload ->> 'snomed', ''), NULLIF(payload ->> 'rxnorm', ''),
                       NULLIF(payload ->> 'substance', ''), NULLIF(payload ->> 'test', ''),
                       NULLIF(payload ->> 'name', ''), '#' || id::text))
    END
) STORED;

CREATE FUNCTION carelog_event_json(e patient_events) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN json_build_object(
        'id', e.id,
        'patient_id', e.patient_id,
        'event_type', e.event_type,
        'payload', e.payload,
        'occurred_at', carelog_utc(e.occurred_at),
        'created_at', carelog_utc(e.recorded_at),
        'recorded_by', e.recorded_by,
        'recorded_by_kind', e.recorded_by_kind,
        'agent_name', e.agent_name,
        'source', e.source,
        'status', e.status,
        'supersedes', e.supersedes,
        'reason', e.reason,
        'labels', e.labels,
        'schema_version', e.schema_version
    )::text;

-- (kind, fact) in order, then each fact's versions newest first: serves both the skip from
-- one fact to the next and "the latest one (or two) of this fact".
CREATE INDEX patient_events_facts
    ON patient_events (tenant_id, patient_id, event_type, fact_key, occurred_at DESC, id DESC)
    WHERE fact_key IS NOT NULL;
