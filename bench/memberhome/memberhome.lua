-- wrk script: POST the MemberHome query with a bearer token chosen round-robin.
--
--   wrk -t2 -c16 -d20s --latency -s memberhome.lua http://127.0.0.1:PORT/graphql -- TOKENS BODY
--
-- TOKENS: a file of access tokens, one a line. BODY: a file holding the JSON request body
-- ({"query": "query MemberHome { ... }"}), written by run.sh from schema/operations.
-- Every thread counts responses that are not 200, and 200s whose body carries GraphQL
-- "errors" or no "me"; done() prints the totals and a RESULT line that run.sh parses.

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

local function read_lines(path)
  local lines = {}
  local file = assert(io.open(path, "r"), "cannot open " .. path)
  for line in file:lines() do
    if line ~= "" then
      table.insert(lines, line)
    end
  end
  file:close()
  return lines
end

local function read_all(path)
  local file = assert(io.open(path, "r"), "cannot open " .. path)
  local text = file:read("*a")
  file:close()
  return text
end

local requests_ = {}
local next_index = 1
non200 = 0
graphql_errors = 0
responses = 0
first_failure = ""

function init(args)
  local tokens = read_lines(args[1])
  local body = read_all(args[2]):gsub("%s+$", "")
  assert(#tokens > 0, "no tokens in " .. args[1])
  local path = wrk.path ~= "" and wrk.path or "/graphql"
  for _, token in ipairs(tokens) do
    table.insert(requests_, wrk.format("POST", path, {
      ["Content-Type"] = "application/json",
      ["Authorization"] = "Bearer " .. token,
    }, body))
  end
  -- Threads start at different tokens so that they do not walk the list in lockstep.
  next_index = (id * math.floor(#requests_ / 2)) % #requests_ + 1
end

function request()
  local req = requests_[next_index]
  next_index = next_index % #requests_ + 1
  return req
end

function response(status, headers, body)
  responses = responses + 1
  if status ~= 200 then
    non200 = non200 + 1
    if first_failure == "" then first_failure = status .. " " .. body:sub(1, 300) end
  elseif body:find('"errors"', 1, true) or not body:find('"me"%s*:%s*{') then
    graphql_errors = graphql_errors + 1
    if first_failure == "" then first_failure = status .. " " .. body:sub(1, 300) end
  end
end

function done(summary, latency, requests)
  local total_non200, total_errors, total_responses, failure = 0, 0, 0, ""
  for _, thread in ipairs(threads) do
    total_non200 = total_non200 + thread:get("non200")
    total_errors = total_errors + thread:get("graphql_errors")
    total_responses = total_responses + thread:get("responses")
    if failure == "" then failure = thread:get("first_failure") end
  end
  local seconds = summary.duration / 1e6
  local e = summary.errors
  local socket_errors = e.connect + e.read + e.write + e.timeout
  io.write(string.format(
    "RESULT requests=%d seconds=%.2f rps=%.1f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f "
      .. "responses=%d non200=%d graphql_errors=%d socket_errors=%d\n",
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    total_responses, total_non200, total_errors, socket_errors))
  if failure ~= "" then
    io.write("FIRST FAILURE: " .. failure .. "\n")
  end
end
