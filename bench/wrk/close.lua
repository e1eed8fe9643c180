-- a new connection for every request
wrk.headers["Connection"] = "close"
