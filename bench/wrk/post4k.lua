-- POST with a 4 KB body the app reads
wrk.method = "POST"
wrk.body = string.rep("p", 4096)
wrk.headers["Content-Type"] = "application/octet-stream"
