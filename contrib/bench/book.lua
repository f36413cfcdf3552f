-- book.lua: wrk script that books ASAP callbacks through POST /v1/callbacks.
--
--   wrk -t2 -c16 -d10s -s contrib/bench/book.lua http://127.0.0.1:8080 [-- PREFIX]
--
-- Every request carries a phone number no other request in the run uses:
-- a phone that already has an open callback gets 200 "existing" (a read,
-- not a booking) and too many open ones get 409, so reused numbers would
-- measure something else. Numbers are PREFIX (default +4479), two digits
-- of wrk thread and six of a per-thread counter: UK mobile numbers, which
-- pass the daemon's number validation (the fictional +1555 range does
-- not). Against a database that already holds bookings from an earlier
-- run, pass another PREFIX (e.g. +4478).
--
-- At the end it prints the status codes seen and one logfmt line starting
-- "book:" that contrib/bench/bench-booking reads; created_per_sec counts
-- only 201 answers, i.e. bookings that really happened.

-- wrk runs setup() in its main Lua state, once per thread, before the
-- threads start; each thread then has a Lua state of its own, so the
-- counters below are per thread and done() collects them.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_id", #threads - 1)
end

local prefix = "+4479"
local counter = 0
statuses = {}

function init(args)
  if args[1] ~= nil and args[1] ~= "" then
    prefix = args[1]
  end
  if thread_id >= 100 then
    error("book.lua: at most 100 wrk threads (two digits in the phone)")
  end
end

local body_fmt = '{"customer":{"name":"Bench Customer","phone":"%s",' ..
  '"timezone":"Europe/London"},"topic":"Benchmark booking %d",' ..
  '"when":"asap","notify":["sms"]}'
local headers = { ["Content-Type"] = "application/json" }

function request()
  counter = counter + 1
  if counter > 999999 then
    error("book.lua: phone numbers of this thread used up")
  end
  local phone = string.format("%s%02d%06d", prefix, thread_id, counter)
  return wrk.format("POST", "/v1/callbacks", headers,
    string.format(body_fmt, phone, counter))
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    for status, n in pairs(t:get("statuses")) do
      total[status] = (total[status] or 0) + n
    end
  end

  local codes, created, existing, non2xx = {}, 0, 0, 0
  for status, _ in pairs(total) do
    table.insert(codes, status)
  end
  table.sort(codes)
  local parts = {}
  for _, status in ipairs(codes) do
    local n = total[status]
    table.insert(parts, string.format("%d=%d", status, n))
    if status == 201 then
      created = n
    elseif status == 200 then
      -- 200 is the "existing" answer: a phone was reused, which this
      -- script must never do.
      existing = n
    end
    if status < 200 or status > 299 then
      non2xx = non2xx + n
    end
  end
  io.write(string.format("status codes: %s\n",
    #parts > 0 and table.concat(parts, " ") or "none"))

  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "book: requests=%d seconds=%.2f req_per_sec=%.1f created=%d " ..
    "created_per_sec=%.1f existing=%d non2xx=%d socket_errors=%d " ..
    "p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f\n",
    summary.requests, secs, summary.requests / secs, created,
    created / secs, existing, non2xx,
    e.connect + e.read + e.write + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end
