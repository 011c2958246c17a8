/* The binding's observability half: a job's metrics snapshot as a Lua table (the facade's
 * cxone/bulk/metrics.lua renders it as Prometheus text) and the per-request timing a result
 * carries for the run report (`at`, `latency`, `tries`). */
#ifndef CXB_LUA_METRICS_H
#define CXB_LUA_METRICS_H
#include "engine/job.h"
#include <lua.h>

/* Pushes the metrics snapshot of j: {requests = {{method=, status=, count=}, ...},
 * latency = {bounds = {...}, counts = {...}, sum=, count=}, limiter_wait_seconds=,
 * limiter_waits=, results = {{outcome=, kind=, count=}, ...}, queued=, in_flight=, started=}.
 * Raises on allocation failure. */
void cxb_lua_push_metrics(lua_State *L, cxb_job *j);

/* A result's `at` (Unix time its first request left) and `latency` (of its last request), as
 * docs/api.md "result" gives them; 0 when no request of t was sent. */
int cxb_lua_timing(const cxb_task *t, double *at, double *latency);
/* Sets `tries` on the result table at the top of the stack when t's requests say more than at,
 * status and latency do (a retry, or a pause before its one request). */
void cxb_lua_set_tries(lua_State *L, const cxb_task *t);
#endif
