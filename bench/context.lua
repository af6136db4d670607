-- wrk script: GET one patient's context (the URL wrk is given), authenticated.
-- Run by bench/context.py (see common.lua for the environment it reads).

local script_dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(script_dir .. "common.lua")

setup = common.setup

function init(args)
   common.init()
   wrk.method = "GET"
end
