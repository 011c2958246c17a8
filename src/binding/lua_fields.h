/* Setting one field of the table on top of the stack (header-only): the binding's result,
 * event, counter and metrics tables are built with these. */
#ifndef CXB_LUA_FIELDS_H
#define CXB_LUA_FIELDS_H
#include "binding/compat.h"

static inline void cxb_set_str(lua_State *L, const char *k, const char *v)
{
    lua_pushstring(L, v);
    lua_setfield(L, -2, k);
}

static inline void cxb_set_num(lua_State *L, const char *k, double v)
{
    lua_pushnumber(L, v);
    lua_setfield(L, -2, k);
}

static inline void cxb_set_int(lua_State *L, const char *k, long v)
{
    cxb_pushint(L, v);
    lua_setfield(L, -2, k);
}

static inline void cxb_set_bool(lua_State *L, const char *k, int v)
{
    lua_pushboolean(L, v);
    lua_setfield(L, -2, k);
}
#endif
