-- Sensitivity labels live in patient_events.labels (HL7 v3 ActCode: BH, ETH, HIV, STD, GDIS,
-- SEX). Counting what a principal may not see reads only the labelled events of a patient,
-- a small minority: this partial index holds just those.
CREATE INDEX patient_events_labelled
    ON patient_events (tenant_id, patient_id, occurred_at DESC)
    WHERE labels <> '{}';
