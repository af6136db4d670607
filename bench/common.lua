-- Shared by get_events.lua and post_event.lua (loaded with dofile; not a wrk script itself).
-- Settings come from the environment that bench/load.py gives wrk, so the bearer token never
-- appears on a command line:
--   CARELOG_BENCH_TOKEN     API key (required)
--   CARELOG_BENCH_PATIENTS  patients to pick from, P-00000 .. P-(n-1) (default 10000)
--   CARELOG_BENCH_SEED      base random seed (default: the clock)

local M = {}

M.token = os.getenv("CARELOG_BENCH_TOKEN")
M.patients = tonumber(os.getenv("CARELOG_BENCH_PATIENTS") or "10000")
M.seed = tonumber(os.getenv("CARELOG_BENCH_SEED") or tostring(os.time()))

-- setup() runs once per thread in wrk's main Lua state: give each thread its own number.
local next_id = 0
function M.setup(thread)
   thread:set("thread_id", next_id)
   next_id = next_id + 1
end

-- init() runs in each thread's own Lua state: seed its generator differently per thread.
function M.init()
   if M.token == nil or M.token == "" then
      error("CARELOG_BENCH_TOKEN is not set")
   end
   math.randomseed(M.seed + (thread_id or 0) * 1000003)
   wrk.headers["Authorization"] = "Bearer " .. M.token
end

function M.random_patient()
   return string.format("P-%05d", math.random(0, M.patients - 1))
end

return M
