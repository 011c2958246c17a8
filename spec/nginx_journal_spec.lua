-- docs/nginx.md followed as root: the workers run as nobody. A journal directory they cannot
-- write must be refused when the job is submitted (500 naming the cause), never a 202 followed
-- by a job that fails in the background.
local N = require "spec.helpers.nginx"
local Mock = require "spec.helpers.mock"
local C = require "spec.helpers.cli"

local ready, why = N.available()
if ready and not N.run("test \"$(id -u)\" = 0") then ready, why = nil, "needs root (workers drop to nobody)" end
if ready then
  local ok, out = N.run("make --no-print-directory -s luajit-module")
  if not ok then ready, why = nil, "cannot build the LuaJIT module: " .. out end
end

describe("nginx example started as root", function()
  if not ready then
    pending("not runnable here: " .. tostring(why))
    return
  end

  it("a journal the workers cannot write: POST /jobs answers 500 naming it, nothing is sent", function()
    local m = Mock.start { "--rate", "0", "--any-contact" }
    -- USER_LINE given: the helper does not chown journal/ (root-owned 0755), as a reader of
    -- the old docs would have it.
    local ng = N.start { tag = "nginx-journal", env = C.CREDS,
      values = { BASE_URL = m.url, USER_LINE = "user nobody nogroup;", WORKERS = 1 } }
    local ok, status, body = pcall(function()
      return ng:post_json("/jobs?id=j1", { tasks = { { contact_id = "c1", category = "Contacted",
        subcategory = "Information Provided" } } })
    end)
    pcall(ng.stop, ng)
    local total = m:stats().requests.total
    m:stop()
    assert(ok, status)
    assert.equal(500, status)
    assert.matches("cannot write the journal: .*Permission denied", body.error)
    assert.equal(0, total)
  end)
end)
