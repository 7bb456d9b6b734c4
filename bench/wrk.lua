-- One wrk script for every scenario, driven by the environment:
-- BENCH_METHOD (GET), BENCH_BODY (JSON, optional), BENCH_TOKEN (optional).
wrk.method = os.getenv("BENCH_METHOD") or "GET"
local body = os.getenv("BENCH_BODY")
if body and body ~= "" then
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
end
local token = os.getenv("BENCH_TOKEN")
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end
