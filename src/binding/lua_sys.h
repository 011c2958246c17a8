/* OS helpers the CLI needs and plain Lua lacks: fsync, isatty, a monotonic clock, getpid and
 * signal flags, a file created with exact permissions. Pushes a table of them. */
#ifndef CXB_LUA_SYS_H
#define CXB_LUA_SYS_H
#include <lua.h>
#include <stdio.h>
void cxb_lua_sys_open(lua_State *L);
/* The FILE* of an open Lua file handle at stack index i; raises when it is closed. */
FILE *cxb_lua_checkfile(lua_State *L, int i);
#endif
