-- wrk script for the shop's benchmark: wrk ... -s drive.lua URL -- FILE THREADS
--
-- FILE holds one request a line: METHOD <TAB> PATH <TAB> BODY, then one
-- "Name: value" header per further tab-separated field. The lines are dealt
-- out to the threads, and each thread sends its lines in turn, over and over:
-- many shoppers' sessions, or many webhook events (a thread that runs out of
-- events starts again, and the repeats take the idempotent path).
--
-- done() prints one line starting with BENCH_JSON for bench/run.py to read,
-- with "repeated": the requests that threads sent a second time or more (a
-- checkout may be sent once only).

local thread_counter = 0
local threads = {}

function setup(thread)
  thread:set("thread_index", thread_counter)
  thread_counter = thread_counter + 1
  threads[#threads + 1] = thread
end

local requests = {}
local position = 0
-- Globals, for done() to read from each thread.
lines = 0
sent = 0

local function split(line)
  local fields = {}
  for field in (line .. "\t"):gmatch("([^\t]*)\t") do
    fields[#fields + 1] = field
  end
  return fields
end

function init(args)
  local threads = tonumber(args[2])
  local line_number = 0
  for line in io.lines(args[1]) do
    if line_number % threads == thread_index then
      local fields = split(line)
      local headers = {}
      for index = 4, #fields do
        local name, value = fields[index]:match("^([^:]+):%s*(.*)$")
        headers[name] = value
      end
      local body = fields[3] ~= "" and fields[3] or nil
      requests[#requests + 1] = wrk.format(fields[1], fields[2], headers, body)
    end
    line_number = line_number + 1
  end
  if #requests == 0 then
    error("no requests for thread " .. thread_index)
  end
  lines = #requests
end

function request()
  sent = sent + 1
  position = position % #requests + 1
  return requests[position]
end

function done(summary, latency)
  local errors = summary.errors
  local repeated = 0
  for _, thread in ipairs(threads) do
    repeated = repeated + math.max(0, thread:get("sent") - thread:get("lines"))
  end
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, '
      .. '"max_us": %d, "connect_errors": %d, "read_errors": %d, '
      .. '"write_errors": %d, "status_errors": %d, "timeouts": %d, '
      .. '"repeated": %d}\n',
    summary.requests, summary.duration,
    math.floor(latency:percentile(50)), math.floor(latency:percentile(99)),
    latency.max, errors.connect, errors.read, errors.write, errors.status,
    errors.timeout, repeated
  ))
end
