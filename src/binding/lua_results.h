/* What a job reports to Lua, on the owner's thread: job:take (finished tasks as result tables),
 * job:events, job:counters and job:metrics. */
#ifndef CXB_LUA_RESULTS_H
#define CXB_LUA_RESULTS_H
#include <lua.h>

/* Adds take, events, counters and metrics to the methods table on top of the stack. */
void cxb_lua_results_methods(lua_State *L);
#endif
