/* Tasks into a job: job:submit (a task the facade prepared), job:submit_plain (the standard
 * tutorial task, its request built here, src/profile/plain_task.h), job:fetch (a metadata GET),
 * core.plain_request, which shows what submit_plain would queue, and core.request, which shows
 * what submit would (the dry run). Every request is built by src/profile/request.h. */
#ifndef CXB_LUA_INTAKE_H
#define CXB_LUA_INTAKE_H
#include <lua.h>

/* Adds submit, submit_plain, feed_plain and fetch to the methods table on top of the stack. */
void cxb_lua_intake_methods(lua_State *L);

/* core.plain_request(url_prefix, batch_id, contact_id, category, subcategory) -> url, body, key | nil */
int cxb_lua_plain_request(lua_State *L);

/* core.request{shape=, batch_id=, url_prefix= | api_base=, api_version=, id=, fields...} ->
 * {method=, url=, body=, idempotency_key=} | nil, message */
int cxb_lua_request(lua_State *L);
#endif
