-- wrk script for the provider simulator: a short non-streaming chat completion.
-- wrk -t2 -c32 -d10s -s bench/simulator_wrk.lua http://127.0.0.1:8090/v1/chat/completions
wrk.method = "POST"
wrk.body = '{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Summarize this support ticket: the customer cannot log in after resetting the password."}],"max_tokens":32}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench"
