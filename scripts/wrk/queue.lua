-- wrk script for the waiting room: each request carries the next token of TOKENS (a file
-- written by `boxoffice bench --queue --tokens N --tokens-out FILE`), so requests spread over
-- many visitors. METHOD=POST joins (`…/queue/join`), the default GET reads places. A line
-- "<token> <queue token>" (the bench's FILE.places.txt) also sends the place's X-Queue-Token.
--   TOKENS=queue-tokens.txt METHOD=POST wrk -t2 -c64 -d10s --latency -s scripts/wrk/queue.lua \
--     http://127.0.0.1:18082/api/v1/shows/1/queue/join
local tokens = {}
local places = {}
for line in io.lines(os.getenv("TOKENS") or "queue-tokens.txt") do
  local jwt, place = line:match("^(%S+)%s+(%S+)$")
  tokens[#tokens + 1] = jwt or line
  places[#places + 1] = place
end
local method = os.getenv("METHOD") or "GET"
local i = math.random(#tokens)

request = function()
  i = i % #tokens + 1
  local headers = { ["Authorization"] = "Bearer " .. tokens[i] }
  if places[i] then
    headers["X-Queue-Token"] = places[i]
  end
  if method == "POST" then
    headers["Content-Type"] = "application/json"
    return wrk.format("POST", nil, headers, "{}")
  end
  return wrk.format("GET", nil, headers)
end
