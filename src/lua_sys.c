#include "clock.h"
#include "compat.h"
#include "lua_sys.h"
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The FILE* of an open Lua file handle; raises when the handle is closed. 5.2+ keep a stale
 * FILE* after io.close and mark the handle closed with closef = NULL; 5.1 and LuaJIT keep the
 * FILE* first and set it to NULL. */
static FILE *sys_checkfile(lua_State *L, int i)
{
#if LUA_VERSION_NUM >= 502
    luaL_Stream *p = (luaL_Stream *)luaL_checkudata(L, i, LUA_FILEHANDLE);
    if (!p->closef)
        luaL_argerror(L, i, "file is closed");
    return p->f;
#else
    FILE **fp = (FILE **)luaL_checkudata(L, i, LUA_FILEHANDLE);
    if (!*fp)
        luaL_argerror(L, i, "file is closed");
    return *fp;
#endif
}

/* sys.fsync(fh) -> true | nil, message: flush stdio buffers, then force them to disk. */
static int sys_fsync(lua_State *L)
{
    FILE *f = sys_checkfile(L, 1);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
        lua_pushnil(L);
        lua_pushfstring(L, "fsync: %s", strerror(errno));
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

static int sys_isatty(lua_State *L)
{
    lua_pushboolean(L, isatty(fileno(sys_checkfile(L, 1))));
    return 1;
}

static int sys_monotime(lua_State *L)
{
    lua_pushnumber(L, cxb_now_mono());
    return 1;
}

static int sys_getpid(lua_State *L)
{
    cxb_pushint(L, getpid());
    return 1;
}

/* The one piece of process-wide mutable state: a signal handler can reach nothing else.
 * Written only by the handler, read and cleared by sys.signal_caught on the Lua thread. */
static volatile sig_atomic_t sys_caught_signal;

static void sys_on_signal(int sig)
{
    sys_caught_signal = sig;
}

static int sys_signal_number(const char *name)
{
    if (strcmp(name, "INT") == 0) return SIGINT;
    if (strcmp(name, "TERM") == 0) return SIGTERM;
    if (strcmp(name, "HUP") == 0) return SIGHUP;
    if (strcmp(name, "PIPE") == 0) return SIGPIPE;
    return -1;
}

/* sys.signal_trap({"INT","TERM"}): record these signals instead of dying on them. */
static int sys_signal_trap(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    int n = (int)cxb_rawlen(L, 1);
    for (int i = 1; i <= n; i++) {
        lua_rawgeti(L, 1, i);
        const char *name = luaL_checkstring(L, -1);
        int sig = sys_signal_number(name);
        if (sig < 0)
            return luaL_error(L, "unknown signal name '%s' (use INT, TERM, HUP or PIPE)", name);
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = sys_on_signal;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESTART;
        if (sigaction(sig, &sa, NULL) != 0)
            return luaL_error(L, "sigaction(%s): %s", name, strerror(errno));
        lua_pop(L, 1);
    }
    return 0;
}

/* sys.signal_caught() -> "INT" | "TERM" | ... | nil; clears the flag. */
static int sys_signal_caught(lua_State *L)
{
    int sig = sys_caught_signal;
    sys_caught_signal = 0;
    switch (sig) {
    case SIGINT: lua_pushliteral(L, "INT"); break;
    case SIGTERM: lua_pushliteral(L, "TERM"); break;
    case SIGHUP: lua_pushliteral(L, "HUP"); break;
    case SIGPIPE: lua_pushliteral(L, "PIPE"); break;
    default: lua_pushnil(L);
    }
    return 1;
}

void cxb_lua_sys_open(lua_State *L)
{
    static const luaL_Reg funcs[] = {
        {"fsync", sys_fsync},         {"isatty", sys_isatty},
        {"monotime", sys_monotime},   {"getpid", sys_getpid},
        {"signal_trap", sys_signal_trap}, {"signal_caught", sys_signal_caught},
        {NULL, NULL}};
    lua_newtable(L);
    cxb_setfuncs(L, funcs);
}
