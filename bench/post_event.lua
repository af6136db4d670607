-- wrk script: POST /patient-events, a small lab_result for a random patient per request.
-- Run by bench/load.py (see common.lua for the environment it reads).

local script_dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(script_dir .. "common.lua")

setup = common.setup

local tests = {
   {"hba1c", "%", 4.0, 11.0},
   {"potassium", "mmol/L", 3.0, 6.0},
   {"creatinine", "mg/dL", 0.5, 3.0},
   {"hemoglobin", "g/dL", 8.0, 17.0},
}

function init(args)
   common.init()
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
end

function request()
   local t = tests[math.random(1, #tests)]
   local value = t[3] + math.random() * (t[4] - t[3])
   local body = string.format(
      '{"patient_id":"%s","event_type":"lab_result","payload":'
         .. '{"test":"%s","value":%.1f,"unit":"%s","specimen":"blood"}}',
      common.random_patient(), t[1], value, t[2])
   return wrk.format(nil, "/patient-events", nil, body)
end
