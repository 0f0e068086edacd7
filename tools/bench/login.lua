-- wrk script for POST /v1/login in dev auth: every request a different user, so every
-- login is a fresh 7+4 placement (a directory lookup in Redis, then the balanced rule).
local n = 0
local headers = { ["Content-Type"] = "application/json" }
request = function()
  n = n + 1
  return wrk.format("POST", "/v1/login", headers, '{"user":"bot' .. n .. '"}')
end
