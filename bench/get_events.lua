-- wrk script: GET /patient-events/{patient_id} of a random patient, one per request.
-- Run by bench/load.py (see common.lua for the environment it reads).

local script_dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(script_dir .. "common.lua")

setup = common.setup

function init(args)
   common.init()
   wrk.method = "GET"
end

function request()
   return wrk.format(nil, "/patient-events/" .. common.random_patient())
end
