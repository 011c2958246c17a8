/* The binding's live control of a running job's rate (job:set_rate, job:set_max_rate,
 * job:rate_status), kept apart from lua_core.c. */
#ifndef CXB_LUA_RATE_H
#define CXB_LUA_RATE_H
#include "engine/job.h"
#include <lua.h>

/* Adds the rate methods to the job methods table on top of the stack. */
void cxb_lua_rate_methods(lua_State *L);

/* The open job of the userdata at index 1 (lua_core.c); raises when closed or after fork. */
cxb_job *cxb_lua_job_open(lua_State *L);
#endif
