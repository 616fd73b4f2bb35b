-- wrk script for Pacer's webhook ingestion (BENCHMARKS.md, issue 4; run by scripts/bench.sh):
--
--   WEBHOOKS_TSV=deliveries.tsv wrk -t2 -c64 -d10s --latency -s webhooks.lua \
--     http://127.0.0.1:PORT/api/webhook -- 2
--
-- The TSV comes from tools/load/gen-signed-webhooks.py (delivery id, signature, body per
-- line). Unlike a script that picks lines with `math.random` (every thread's Lua state has the
-- same seed, so all threads would post the same deliveries at the same time), each thread
-- here takes its own slice of the lines (line
-- i goes to thread i mod THREADS; pass THREADS after `--`), so no delivery is sent twice until
-- a thread has used up its slice. Pacer's route is /api/webhook.
--
-- wrk runs each thread's `init` in its main thread, one thread after another, and starts a
-- thread (and its requests) as soon as that thread's `init` is done, but starts its clock only
-- after the last one. With a large TSV the first thread would post alone for as long as the
-- others take to load (about 8 s for 140,000 deliveries) and the reported rate would count
-- those requests in a 10 s window they were not sent in. So each thread appends a line to
-- `WEBHOOKS_TSV.ready` (or `WEBHOOKS_READY`) once it has loaded, and a thread's first
-- request waits until every thread has. (wrk calls thread 0's `request()` once from its main
-- thread, before starting the others, to see whether the request can be pipelined: that first
-- call must not wait.)

local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local reqs = {}
local idx = 0

local total = 1
local ready_path
local all_ready = false
local verified = false

function init(args)
  total = tonumber(args[1]) or 1
  local path = os.getenv("WEBHOOKS_TSV") or "deliveries.tsv"
  ready_path = os.getenv("WEBHOOKS_READY") or (path .. ".ready")
  if id == 0 then
    os.remove(ready_path)
  end
  local n = 0
  for line in io.lines(path) do
    if n % total == id then
      local guid, sig, body = line:match("^([^\t]+)\t([^\t]+)\t(.*)$")
      reqs[#reqs + 1] = wrk.format("POST", nil, {
        ["Content-Type"] = "application/json", ["User-Agent"] = "GitHub-Hookshot/wrk",
        ["X-GitHub-Event"] = "workflow_job", ["X-GitHub-Delivery"] = guid,
        ["X-GitHub-Hook-ID"] = "1", ["X-GitHub-Hook-Installation-Target-Type"] = "integration",
        ["X-Hub-Signature-256"] = sig }, body)
    end
    n = n + 1
  end
  slice = #reqs
  local ready = assert(io.open(ready_path, "a"))
  ready:write(id, "\n")
  ready:close()
end

local function loaded_threads()
  local n = 0
  local file = io.open(ready_path, "r")
  if file then
    for _ in file:lines() do n = n + 1 end
    file:close()
  end
  return n
end

function request()
  while verified and not all_ready do
    all_ready = loaded_threads() >= total
    if not all_ready then os.execute("sleep 0.05") end
  end
  verified = true
  idx = idx % #reqs + 1
  return reqs[idx]
end

function done(summary, latency, requests)
  local distinct = 0
  for _, thread in ipairs(threads) do
    distinct = distinct + (thread:get("slice") or 0)
  end
  io.write(string.format("deliveries available: %d; requests sent: %d%s\n", distinct, summary.requests,
    summary.requests > distinct and " (more than available: the rest were repeats, answered as duplicates)" or
    " (all distinct)"))
  io.write(string.format("non-2xx/3xx: %d; socket errors: connect %d, read %d, write %d, timeout %d\n",
    summary.errors.status, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.timeout))
end
