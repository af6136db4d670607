-- A queue page's keyset bound in queue order (rank, sort_at, case_id): after the cursor, or
-- below every key on the first page, so that it is always a condition on the index range.
      AND (c.rank, c.sort_at, c.case_id) > (
          COALESCE(%(after_rank)s::smallint, (-32768)::smallint),
          COALESCE(%(after_sort_at)s::timestamptz, '-infinity'::timestamptz),
          COALESCE(%(after_case)s::uuid, '00000000-0000-0000-0000-000000000000'::uuid))
