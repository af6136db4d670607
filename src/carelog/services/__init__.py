"""Use cases: record and read events, issue and check keys. Each owns its transaction."""
