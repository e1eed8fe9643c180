-- counts responses per X-Worker header; prints "worker <pid> <count>" lines at the end
counts = {}
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end
function init(args)
  counts = {}
end
function response(status, headers, body)
  local w = headers["X-Worker"] or headers["x-worker"] or "?"
  counts[w] = (counts[w] or 0) + 1
end
function done(summary, latency, requests)
  for _, t in ipairs(threads) do
    local c = t:get("counts")
    for w, n in pairs(c) do io.write(string.format("worker %s %d\n", w, n)) end
  end
end
