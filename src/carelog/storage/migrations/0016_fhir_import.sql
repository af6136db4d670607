-- FHIR import (issue 13, POST /fhir): what the tenant's imports remember.
--
-- fhir_patient_identifiers: a Patient resource's identifiers (system, value) and the Carelog
-- patient they name, so that a resource whose subject is given as an identifier
-- (Patient?identifier=system|value) is recorded for that patient. A system-less identifier
-- has system ''. One identifier names one patient per tenant.
--
-- fhir_imports: each imported resource, by type and id (a resource without an id is kept
-- under '#' and its content hash, which no FHIR id can be), with the versionId and content
-- hash it came with and the event that holds it now (NULL for a Patient, which is no event):
-- the same id with the same versionId or content again is unchanged, with other content a
-- correction of that event. chain_id is the event's first version, version how many versions
-- imports have written.
CREATE TABLE fhir_patient_identifiers (
    tenant_id  text NOT NULL,
    system     text NOT NULL,
    value      text NOT NULL,
    patient_id text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, system, value)
);

CREATE TABLE fhir_imports (
    tenant_id     text NOT NULL,
    resource_type text NOT NULL,
    resource_id   text NOT NULL,
    version_id    text,
    content_hash  text NOT NULL,
    patient_id    text NOT NULL,
    event_id      bigint,
    chain_id      bigint,
    version       integer NOT NULL DEFAULT 1,
    imported_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, resource_type, resource_id)
);

GRANT SELECT, INSERT ON fhir_patient_identifiers TO carelog_app;
GRANT SELECT, INSERT, UPDATE ON fhir_imports TO carelog_app;

ALTER TABLE fhir_patient_identifiers ENABLE ROW LEVEL SECURITY;
ALTER TABLE fhir_imports ENABLE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON fhir_patient_identifiers TO carelog_app
    USING (tenant_id = current_setting('carelog.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('carelog.tenant_id', true));
CREATE POLICY tenant_isolation ON fhir_imports TO carelog_app
    USING (tenant_id = current_setting('carelog.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('carelog.tenant_id', true));
