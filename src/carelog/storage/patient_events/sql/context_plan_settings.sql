-- The candidate query's plan, for its transaction only, in the same round trip:
-- - always the generic plan: left to choose, PostgreSQL can settle on re-planning per call
--   (custom plans cost it ~1.5 ms, the generic plan runs in ~1 ms);
-- - walks, not sorts: every part of the query is "the newest N of an index range that pass a
--   filter", which an ordered index scan answers after N rows. A generic plan knows neither
--   the window nor the labels, guesses that few rows pass, and then (on some statistics)
--   prefers reading the whole range with a bitmap scan and sorting it: every note, every
--   reading of a sign. Sorts and bitmap scans are made the last resort;
-- - no parallel workers: every part reads a few index rows, and starting workers (which the
--   withheld count then chose, with bitmap scans off) cost more than the whole query.
SELECT set_config('plan_cache_mode', 'force_generic_plan', true),
       set_config('enable_sort', 'off', true),
       set_config('enable_bitmapscan', 'off', true),
       set_config('max_parallel_workers_per_gather', '0', true)
