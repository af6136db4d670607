-- Search without its two GIN indexes. Under row-level security PostgreSQL lets only leakproof
-- operators be index conditions ahead of the policy's qual, and neither the full-text match
-- (tsvector @@ tsquery) nor jsonb containment (@>) is leakproof. The service's search runs
-- as carelog_app under the policies, so patient_events_text and patient_events_coded were
-- never index conditions for it: the match and the containment were filters over the rows
-- read through the B-tree indexes (or over the whole partial GIN index, read as a list of
-- its rows). Both were kept up on every write of a note-like or coded event: about 4 us an
-- event of the batch path's 24 in PostgreSQL (docs/benchmarks.md, issue 13).
DROP INDEX patient_events_text;
DROP INDEX patient_events_coded;
