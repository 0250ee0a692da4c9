-- wrk script for the waiting room: each request carries the next token of TOKENS (a file
-- written by `boxoffice bench --queue --tokens N --tokens-out FILE`), so requests spread over
-- many visitors. METHOD=POST joins (`…/queue/join`), the default GET reads places.
--   TOKENS=queue-tokens.txt METHOD=POST wrk -t2 -c64 -d10s --latency -s scripts/wrk/queue.lua \
--     http://127.0.0.1:18082/api/v1/shows/1/queue/join
local tokens = {}
for line in io.lines(os.getenv("TOKENS") or "queue-tokens.txt") do
  tokens[#tokens + 1] = line
end
local method = os.getenv("METHOD") or "GET"
local i = math.random(#tokens)

request = function()
  i = i % #tokens + 1
  local headers = { ["Authorization"] = "Bearer " .. tokens[i] }
  if method == "POST" then
    headers["Content-Type"] = "application/json"
    return wrk.format("POST", nil, headers, "{}")
  end
  return wrk.format("GET", nil, headers)
end
