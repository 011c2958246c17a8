/* job:set_rate(r), job:set_max_rate(r), job:rate_status(): the rate of a running job, changed and
 * read on the owner's thread. The limiter applies a change safely while workers acquire
 * (limiter_rate.c); a Redis limit takes it to the fleet with the next exchange of a worker. */
#include "binding/compat.h"
#include "binding/lua_rate.h"
#include "binding/lua_job.h"
#include <stdio.h>

/* Pushes true, or nil and the message. */
static int rate_result(lua_State *L, int rc, const char *err)
{
    if (rc == 0) {
        lua_pushboolean(L, 1);
        return 1;
    }
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
}

/* job:set_rate(r) -> true | nil, message */
static int job_set_rate(lua_State *L)
{
    cxb_limiter *lim = cxb_job_limiter(cxb_lua_job_open(L));
    double r = luaL_checknumber(L, 2);
    char err[256] = "";
    return rate_result(L, cxb_limiter_set_rate(lim, r, err, sizeof err), err);
}

/* job:set_max_rate(r) -> true | nil, message */
static int job_set_max_rate(lua_State *L)
{
    cxb_limiter *lim = cxb_job_limiter(cxb_lua_job_open(L));
    double r = luaL_checknumber(L, 2);
    char err[256] = "";
    return rate_result(L, cxb_limiter_set_max_rate(lim, r, err, sizeof err), err);
}

/* job:rate_status() -> {rate=, max_rate=, rate_found= (nil before a 429), adaptive=, paused_for=} */
static int job_rate_status(lua_State *L)
{
    cxb_rate_status st;
    cxb_limiter_rate_status(cxb_job_limiter(cxb_lua_job_open(L)), &st);
    lua_createtable(L, 0, 4);
    lua_pushnumber(L, st.rate);
    lua_setfield(L, -2, "rate");
    lua_pushnumber(L, st.max_rate);
    lua_setfield(L, -2, "max_rate");
    if (st.rate_found > 0) {
        lua_pushnumber(L, st.rate_found);
        lua_setfield(L, -2, "rate_found");
    }
    lua_pushboolean(L, st.adaptive);
    lua_setfield(L, -2, "adaptive");
    lua_pushnumber(L, cxb_limiter_pause_remaining(cxb_job_limiter(cxb_lua_job_open(L))));
    lua_setfield(L, -2, "paused_for");
    return 1;
}

void cxb_lua_rate_methods(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"set_rate", job_set_rate}, {"set_max_rate", job_set_max_rate},
        {"rate_status", job_rate_status}, {NULL, NULL}};
    cxb_setfuncs(L, methods);
}
