/* The job handle Lua holds (a cxone.bulk.job userdata): made by core.new_job, checked by every
 * method (closed? used after a fork?), closed by job:close, __close or __gc. The methods of the
 * other binding files (lua_intake, lua_results, lua_rate) reach the job through it. */
#ifndef CXB_LUA_JOB_H
#define CXB_LUA_JOB_H
#include "engine/job.h"
#include <lua.h>
#include <stddef.h>

#define CXB_LUA_JOB_MT "cxone.bulk.job"

/* The job's constants a task is built from: the batch id every key is derived from and the
 * contacts' URL prefix (both NUL-terminated, owned by the userdata). */
typedef struct cxb_lua_consts {
    const char *batch, *prefix;
    size_t batch_len, prefix_len;
} cxb_lua_consts;

/* core.new_job(cfg) -> job | nil, message, kind (needs the metatable CXB_LUA_JOB_MT). */
int cxb_lua_new_job(lua_State *L);

/* The open job of the userdata at index 1; raises when it is closed or used after a fork. */
cxb_job *cxb_lua_job_open(lua_State *L);

/* The same, with the job's constants in *k. */
cxb_job *cxb_lua_job_consts(lua_State *L, cxb_lua_consts *k);

/* Adds the life-cycle methods (close_input, has_slot, finished, cancel, halt, close,
 * attach_journal, intents_written) to the methods table on top of the stack. */
void cxb_lua_job_methods(lua_State *L);

/* Sets __gc, __close and __tostring on the metatable on top of the stack. */
void cxb_lua_job_meta(lua_State *L);
#endif
