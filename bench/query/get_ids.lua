-- wrk script for bench/query.sh: GET /events/{id} with ids drawn at random (per request) from
-- the file named by the IDS environment variable (one id per line, make_store --ids), then the
-- SUMMARY line of ../wrk/summary.lua. Ids are percent-encoded where they hold bytes outside
-- [A-Za-z0-9._~:-] (make_store's never do; kept general).
local ids = {}

local function encode(s)
  return (s:gsub("[^%w%.%_%~%:%-]", function(c) return string.format("%%%02X", c:byte()) end))
end

function init(args)
  local path = os.getenv("IDS")
  local f = assert(io.open(path, "r"), "cannot open IDS file " .. tostring(path))
  for line in f:lines() do
    if #line > 0 then ids[#ids + 1] = "/events/" .. encode(line) end
  end
  f:close()
  assert(#ids > 0, "no ids in " .. path)
  -- A different sequence per thread and per run.
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000)
end

function request()
  return wrk.format("GET", ids[math.random(#ids)])
end

-- done(): the SUMMARY line, shared with the other wrk runs.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "../wrk/summary.lua")
