--- The class of a cxone.bulk job: one table its methods are spread over by concern
-- (cxone.bulk.job: life cycle, poll and results; job_intake: taking tasks; job_meta: the
-- metadata validate_outcomes fetches). A leaf module, so each of them can add to it.
local Job = {}
Job.__index = Job
return Job
