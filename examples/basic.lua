-- The smallest useful script: update three contacts and print what happened.
--   CXONE_CLIENT_ID=... CXONE_CLIENT_SECRET=... CXONE_BASE_URL=https://... lua5.4 examples/basic.lua
-- Against the mock: build/cxone-mock --port 0 prints its port; then
--   CXONE_BASE_URL=http://127.0.0.1:PORT CXONE_CLIENT_ID=demo-client CXONE_CLIENT_SECRET=demo-secret \
--   LUA_PATH="lua/?.lua;;" LUA_CPATH="build/lua5.4/?.so;;" lua5.4 examples/basic.lua
local bulk = require "cxone.bulk"

local tasks = {
  { contact_id = "contact-000001", category = "Contacted", subcategory = "Information Provided" },
  { contact_id = "contact-000002", category = "Contacted", subcategory = "Callback Requested" },
  { contact_id = "contact-000003", category = "Not Contacted", subcategory = "No Answer" },
}

local summary = bulk.batch_update(tasks, {
  batch_id = "basic-example",          -- scopes the derived idempotency keys: rerunning is safe
  on_result = function(r)
    if r.ok then
      print(("ok     %s (attempts %d%s)"):format(r.contact_id, r.attempts, r.replayed and ", replayed" or ""))
    else
      print(("failed %s: %s"):format(r.contact_id, r.error))
    end
  end,
})
print(("%d ok, %d failed, %d requests in %.2f s"):format(summary.succeeded, summary.failed,
  summary.requests, summary.elapsed))
