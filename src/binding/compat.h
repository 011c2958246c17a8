/* The few shims Lua 5.1 / LuaJIT need to look like 5.2+. Every shim carries the cxb_ prefix so
 * it can never clash with a symbol LuaJIT (or another module) defines. */
#ifndef CXB_COMPAT_H
#define CXB_COMPAT_H
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h> /* LUA_FILEHANDLE lives here on 5.1 and LuaJIT */

#if LUA_VERSION_NUM >= 502
#define cxb_rawlen(L, i) lua_rawlen(L, (i))
#define cxb_setfuncs(L, l) luaL_setfuncs(L, (l), 0)
#else
#define cxb_rawlen(L, i) lua_objlen(L, (i))
/* LuaJIT 2.1 has luaL_setfuncs but plain 5.1 does not; use our own under a private name. */
static inline void cxb_setfuncs(lua_State *L, const luaL_Reg *l)
{
    for (; l->name; l++) {
        lua_pushcfunction(L, l->func);
        lua_setfield(L, -2, l->name);
    }
}
#endif

/* Integers: 5.3+ has a real integer subtype. */
#if LUA_VERSION_NUM >= 503
#define cxb_pushint(L, n) lua_pushinteger(L, (lua_Integer)(n))
#else
#define cxb_pushint(L, n) lua_pushnumber(L, (lua_Number)(n))
#endif
#endif
