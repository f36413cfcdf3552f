-- queue_wrk.lua: wrk script for contrib/bench/bench-queue.
--
--   wrk -t2 -c32 -d10s -s contrib/bench/queue_wrk.lua URL -- MODE KEYS [RATE]
--
-- MODE  get: GET /v1/me/queue?limit=25, each request with a key picked at
--            random from KEYS;
--       etag: the same with If-None-Match: KEYS has "KEY ETAG" lines, the
--            tag each key's page had (a 304 counts as ok);
--       next: POST /v1/me/queue/next, each thread going round the keys in
--            KEYS in turn (from a different starting point per thread).
-- KEYS  a file with one API key per line.
-- RATE  optional total requests per second to pace to (0 or none: as fast
--       as the connections go). Debian's wrk has no -R, so pacing uses
--       wrk's delay() hook: each thread hands its connections send slots
--       RATE/threads per second apart (so RATE must be given with the
--       thread count, as "RATE/THREADS", e.g. 1500/2). Latency is measured
--       from each send, so a paced run shows the latency at that load.
--
-- At the end: the status codes seen and one logfmt line starting "queue:"
-- that bench-queue reads. In next mode the answers' callback ids are
-- collected and dup_ids counts ids answered more than once.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_id", #threads - 1)
end

local mode, keys, turn = "get", {}, 0
local interval_ms, next_at = 0, 0
statuses = {}
ids = {}

local ffi = require("ffi")
pcall(ffi.cdef, [[
typedef struct { long tv_sec; long tv_nsec; } queue_wrk_timespec;
int clock_gettime(int clk_id, queue_wrk_timespec *tp);
]])
local ts = ffi.new("queue_wrk_timespec")

local function now_ms()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local function paced_delay()
  -- The next free slot of this thread; a slot that passed while every
  -- connection was busy is not made up for (no bursts after a stall).
  local now = now_ms()
  local slot = next_at > now and next_at or now
  next_at = slot + interval_ms
  return math.floor(slot - now + 0.5)
end

function init(args)
  mode = args[1] or "get"
  run_mode = mode
  local path = args[2]
  if (mode ~= "get" and mode ~= "next" and mode ~= "etag") or path == nil then
    error("queue_wrk.lua: arguments: get|etag|next KEYFILE [RATE/THREADS]")
  end
  for line in io.lines(path) do
    if line ~= "" then
      if mode == "etag" then
        local k, t = string.match(line, "^(%S+)%s+(.+)$")
        if k == nil then
          error("queue_wrk.lua: etag mode wants KEY ETAG lines")
        end
        table.insert(keys, { k, t })
      else
        table.insert(keys, line)
      end
    end
  end
  if #keys == 0 then
    error("queue_wrk.lua: no keys in " .. path)
  end
  local rate, nthreads = string.match(args[3] or "", "^(%d+%.?%d*)/(%d+)$")
  if rate ~= nil and tonumber(rate) > 0 then
    interval_ms = 1000 * tonumber(nthreads) / tonumber(rate)
    delay = paced_delay
  end
  math.randomseed(os.time() + thread_id * 7919)
  turn = thread_id * 7
end

local get_headers = {}
local next_headers = { ["Content-Type"] = "application/json" }

-- The page size is given, not left to the default, so that two
-- revisions with different defaults serve the same page.
function request()
  if mode == "get" then
    get_headers["Authorization"] = "Bearer " .. keys[math.random(#keys)]
    return wrk.format("GET", "/v1/me/queue?limit=25", get_headers)
  elseif mode == "etag" then
    local kt = keys[math.random(#keys)]
    get_headers["Authorization"] = "Bearer " .. kt[1]
    get_headers["If-None-Match"] = kt[2]
    return wrk.format("GET", "/v1/me/queue?limit=25", get_headers)
  end
  turn = turn % #keys + 1
  next_headers["Authorization"] = "Bearer " .. keys[turn]
  return wrk.format("POST", "/v1/me/queue/next", next_headers, "")
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if mode == "next" and status == 200 then
    -- The callback's own id is the answer's first member.
    local id = string.match(body, '^{%s*"id"%s*:%s*(%d+)')
    if id ~= nil then
      table.insert(ids, id)
    end
  end
end

function done(summary, latency, requests)
  local total, seen, dups, nids = {}, {}, 0, 0
  local mode = #threads > 0 and threads[1]:get("run_mode") or mode
  for _, t in ipairs(threads) do
    for status, n in pairs(t:get("statuses")) do
      total[status] = (total[status] or 0) + n
    end
    for _, id in ipairs(t:get("ids")) do
      nids = nids + 1
      if seen[id] then
        dups = dups + 1
      end
      seen[id] = true
    end
  end
  local codes, parts, ok, nocontent, other, notmod = {}, {}, 0, 0, 0, 0
  for status, _ in pairs(total) do
    table.insert(codes, status)
  end
  table.sort(codes)
  for _, status in ipairs(codes) do
    local n = total[status]
    table.insert(parts, string.format("%d=%d", status, n))
    if status == 200 or status == 304 then
      ok = ok + n
      if status == 304 then
        notmod = n
      end
    elseif status == 204 then
      nocontent = n
    else
      other = other + n
    end
  end
  io.write(string.format("status codes: %s\n",
    #parts > 0 and table.concat(parts, " ") or "none"))
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "queue: mode=%s requests=%d seconds=%.2f req_per_sec=%.1f ok=%d " ..
    "ok_per_sec=%.1f nocontent=%d other=%d socket_errors=%d ids=%d " ..
    "dup_ids=%d notmodified=%d p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f\n",
    mode, summary.requests, secs, summary.requests / secs, ok, ok / secs,
    nocontent, other, e.connect + e.read + e.write + e.timeout, nids, dups,
    notmod,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end
