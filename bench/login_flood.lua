-- A distributed login flood for bench/run.sh: failed logins, each from a forged
-- client address (the instance under test trusts X-Forwarded-For from 127.0.0.1, as
-- it would from its proxy), so per-address quotas do not turn them away cheaply.
-- Every connection waits DELAY ms between requests: offered rate = connections * 1000 / DELAY.

local pause = 1000
local sent = 0

function init(args)
  pause = tonumber(args[1]) or 1000
  math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0) % 100000)
end

function delay()
  return pause
end

function request()
  sent = sent + 1
  local headers = {
    ["Content-Type"] = "application/json",
    ["X-Forwarded-For"] = "10.77." .. math.random(0, 255) .. "." .. math.random(1, 254),
  }
  local body = '{"email":"flood-' .. sent .. '-' .. math.random(1, 1000000) ..
    '@example.com","password":"not the password at all"}'
  return wrk.format("POST", nil, headers, body)
end

-- Count answers by status in each thread, and report them at the end.
local threads = {}
counts = {}  -- global: done() reads it from each thread

function setup(thread)
  table.insert(threads, thread)
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    local c = thread:get("counts") or {}
    for status, n in pairs(c) do
      total[status] = (total[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(total) do
    table.insert(parts, status .. ": " .. n)
  end
  table.sort(parts)
  io.write("flood statuses: " .. table.concat(parts, ", ") .. "\n")
end
