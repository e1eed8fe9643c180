-- 16 requests per write on each connection
local depth = 16
function init(args)
  local r = {}
  for i = 1, depth do r[i] = wrk.format(nil, "/") end
  req = table.concat(r)
end
function request()
  return req
end
