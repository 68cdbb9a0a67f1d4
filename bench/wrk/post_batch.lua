-- wrk script: POST /http-events with a JSON array of BATCH legacy envelopes (default 100):
-- BATCH/2 request/response pairs, the same shape and ~500-byte bodies as
-- ../shared/bench/seed-standin/post_events.lua, unique ids per run. One SUMMARY line at the end
-- (requests = HTTP requests; events = requests * BATCH).
local path = os.getenv("EVENT_PATH") or "/http-events"
local batch = tonumber(os.getenv("BATCH") or "100")
math.randomseed(os.time() + math.floor(os.clock() * 1e6))
local tag = os.getenv("RUN_TAG") or string.format("%08x", math.random(0, 0x7fffffff))
local body = string.rep("lorem-ipsum-0123456789-", 22):sub(1, 500)
-- Each envelope is cut around its two id slots once; a request then only joins pieces.
local t = os.time()
local req_a = string.format('{"type":"request","timestamp":%d.000,"data":{"id":"', t)
local req_b = '","method":"POST","path":"/api/v1/orders","query":"page=1&size=20","version":"1.1",' ..
  '"headers":{"host":"shop.example.svc","user-agent":"bench-client/1.0",' ..
  '"content-type":"application/json","accept":"*/*","x-request-id":"'
local req_c = '"},"body":"' .. body .. '"}}'
local res_a = string.format('{"type":"response","timestamp":%d.001,"data":{"id":"', t)
local res_b = '","status":200,"headers":{"content-type":"application/json",' ..
  '"cache-control":"no-store","server":"demo-app","x-request-id":"'
local res_c = '"},"body":"' .. body .. '"}}'
local headers = { ["Content-Type"] = "application/json" }
local n = 0
local nthreads = 0
tid = 0
function setup(thread)
  nthreads = nthreads + 1
  thread:set("tid", nthreads)
end
function request()
  local parts = {}
  local k = 0
  for i = 0, batch - 1 do
    local id = tag .. "-" .. tid .. "-" .. math.floor(n / 2)
    if i > 0 then k = k + 1; parts[k] = "," end
    if n % 2 == 0 then
      parts[k + 1] = req_a; parts[k + 2] = id; parts[k + 3] = req_b; parts[k + 4] = id
      parts[k + 5] = req_c
    else
      parts[k + 1] = res_a; parts[k + 2] = id; parts[k + 3] = res_b; parts[k + 4] = id
      parts[k + 5] = res_c
    end
    k = k + 5
    n = n + 1
  end
  return wrk.format("POST", path, headers, "[" .. table.concat(parts, "", 1, k) .. "]")
end
function done(summary, latency, requests)
  local ms = function(p) return latency:percentile(p) / 1000.0 end
  io.write(string.format(
    "SUMMARY requests=%d duration_s=%.2f rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f errors_connect=%d errors_read=%d errors_write=%d errors_status=%d errors_timeout=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    ms(50), ms(90), ms(99), ms(99.9), latency.max / 1000.0,
    summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout))
end
