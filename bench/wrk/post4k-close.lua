-- POST with a 4 KB body, a new connection for every request
wrk.method = "POST"
wrk.body = string.rep("p", 4096)
wrk.headers["Content-Type"] = "application/octet-stream"
wrk.headers["Connection"] = "close"
