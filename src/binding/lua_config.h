/* Reading a job's config (core.new_job) from the facade's option table: every option filled
 * in and checked by lua/cxone/bulk/options.lua, so a missing or bad value here is the caller's
 * bug and is refused by name. */
#ifndef CXB_LUA_CONFIG_H
#define CXB_LUA_CONFIG_H
#include "engine/config.h"
#include <lua.h>
#include <stddef.h>

/* Fills c from the complete, checked option table at index t; raises naming a bad option. The
 * strings stay referenced by the table, which must outlive c's use. */
void cxb_lua_read_config(lua_State *L, int t, cxb_config *c);

/* A required string field of the table at index t (it stays referenced there); raises by name. */
const char *cxb_lua_config_lstring(lua_State *L, int t, const char *name, size_t *len);
#endif
