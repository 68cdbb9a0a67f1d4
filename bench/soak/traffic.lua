-- wrk script for bench/soak.sh: varied, paced traffic through HAProxy.
--   Requests: GET (most), POST/PUT/PATCH with JSON bodies of 0.5-4 KiB, DELETE, OPTIONS (no
--   HEAD: wrk's parser would wait for the body its Content-Length announces); ~30 path
--   shapes with numbers, queries on a quarter of them, 8 Host values.
--   Pacing: each connection waits DELAY_MS (env, fractional allowed: the integer delays 0 < d
--   are mixed to give that mean) before each request, so the rate is about
--   connections * 1000 / (DELAY_MS + response time).
-- At the end: the SUMMARY line of ../wrk/summary.lua.
local delay_ms = tonumber(os.getenv("DELAY_MS") or "2.5")
local methods = { "GET", "GET", "GET", "GET", "GET", "GET", "GET", "GET", "GET", "GET",
                  "GET", "GET", "POST", "POST", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "GET" }
local hosts = { "shop.local", "api.shop.local", "www.example.com", "api.example.com",
                "auth.example.com", "static.example.com", "orders.internal:8080", "legacy.example.org" }
local paths = { "/api/v1/items/%d", "/api/v1/items", "/api/v1/users/%d/orders", "/api/v1/orders/%d",
                "/api/v1/cart", "/api/v2/search", "/api/v2/payments/%d", "/auth/login", "/auth/token",
                "/static/js/app.%d.js", "/static/img/product-%d.webp", "/", "/products/%d",
                "/category/%d", "/checkout", "/account/settings", "/admin/reports/%d", "/graphql",
                "/download/invoice-%d.pdf", "/api/v1/items/%d/reviews", "/healthz", "/metrics",
                "/api/v2/inventory/%d/stock", "/api/v1/cart/items/%d", "/auth/refresh",
                "/legacy/cgi-bin/order.pl", "/internal/batch/%d", "/api/v2/sessions",
                "/api/v2/recommendations/%d", "/favicon.ico" }
local words = { "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
                "india", "juliet", "kilo", "lima", "mike", "november", "oscar", "papa" }
local bodies = {}

local function json_body(n)
  local parts, size, i = {}, 0, 0
  while size + 80 < n do
    local item = string.format('{"id":%d,"name":"%s %s","qty":%d}', math.random(1000000),
      words[math.random(#words)], words[math.random(#words)], math.random(100))
    parts[#parts + 1] = item
    size = size + #item + 1
    i = i + 1
  end
  local b = '{"items":[' .. table.concat(parts, ",") .. '],"note":"'
  while #b + 2 < n do b = b .. words[math.random(#words)] .. " " end
  return b .. '"}'
end

function init(args)
  math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000))
  for i = 1, 32 do bodies[i] = json_body(512 + math.floor((i - 1) * (4096 - 512) / 31)) end
end

function request()
  local m = methods[math.random(#methods)]
  local p = paths[math.random(#paths)]
  if p:find("%%d") then p = string.format(p, math.random(100000)) end
  if math.random(4) == 1 then
    p = p .. "?page=" .. math.random(50) .. "&q=" .. words[math.random(#words)]
  end
  local h = { ["Host"] = hosts[math.random(#hosts)], ["User-Agent"] = "hep-soak/1",
              ["Accept"] = "application/json" }
  local body = nil
  if m == "POST" or m == "PUT" or m == "PATCH" then
    body = bodies[math.random(#bodies)]
    h["Content-Type"] = "application/json"
  end
  return wrk.format(m, p, h, body)
end

function delay()
  local lo = math.floor(delay_ms)
  if math.random() < delay_ms - lo then return lo + 1 end
  return lo
end

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "../wrk/summary.lua")
