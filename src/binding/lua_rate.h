/* The binding's live control of a running job's rate (job:set_rate, job:set_max_rate,
 * job:rate_status), kept apart from lua_job.c. */
#ifndef CXB_LUA_RATE_H
#define CXB_LUA_RATE_H
#include <lua.h>

/* Adds the rate methods to the job methods table on top of the stack. */
void cxb_lua_rate_methods(lua_State *L);
#endif
