-- A key may be limited to a list of patients (an agent working one patient's case sees only
-- that patient). NULL: every patient of the tenant.
ALTER TABLE api_keys
    ADD COLUMN patients text[],
    ADD CONSTRAINT api_keys_patients_not_empty
        CHECK (patients IS NULL OR cardinality(patients) > 0);
