#include "common/clock.h"
#include "binding/compat.h"
#include "binding/lua_sys.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
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

FILE *cxb_lua_checkfile(lua_State *L, int i)
{
    return sys_checkfile(L, i);
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
    if (strcmp(name, "XFSZ") == 0) return SIGXFSZ;
    return -1;
}

/* Installs handler for the signal called name; raises for an unknown name or a failed sigaction. */
static void sys_set_handler(lua_State *L, const char *name, void (*handler)(int), int flags)
{
    int sig = sys_signal_number(name);
    if (sig < 0)
        luaL_error(L, "unknown signal name '%s' (use INT, TERM, HUP, PIPE or XFSZ)", name);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = flags;
    if (sigaction(sig, &sa, NULL) != 0)
        luaL_error(L, "sigaction(%s): %s", name, strerror(errno));
}

/* sys.signal_trap({"INT","TERM"}): record these signals instead of dying on them. */
static int sys_signal_trap(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    int n = (int)cxb_rawlen(L, 1);
    for (int i = 1; i <= n; i++) {
        lua_rawgeti(L, 1, i);
        sys_set_handler(L, luaL_checkstring(L, -1), sys_on_signal, SA_RESTART);
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

/* Pushes "dev:ino" of st (one file, whatever names or links reach it) and its kind. */
static int sys_push_id(lua_State *L, const struct stat *st)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%llu:%llu", (unsigned long long)st->st_dev, (unsigned long long)st->st_ino);
    lua_pushstring(L, buf);
    lua_pushstring(L, S_ISREG(st->st_mode) ? "file" : S_ISDIR(st->st_mode) ? "directory"
                      : S_ISFIFO(st->st_mode) ? "fifo" : "other");
    return 2;
}

/* sys.file_id(path | fd) -> "dev:ino", kind | nil, message, errno-name: which file a path names (after
 * symlinks; hard links give the same id) or which file descriptor 0/1/2 is open on. "ENOENT" as
 * the third value when nothing exists there yet. */
static int sys_file_id(lua_State *L)
{
    struct stat st;
    int rc;
    if (lua_type(L, 1) == LUA_TNUMBER)
        rc = fstat((int)lua_tointeger(L, 1), &st);
    else
        rc = stat(luaL_checkstring(L, 1), &st);
    if (rc != 0) {
        int e = errno;
        lua_pushnil(L);
        lua_pushstring(L, strerror(e));
        lua_pushstring(L, e == ENOENT ? "ENOENT" : "EOTHER");
        return 3;
    }
    return sys_push_id(L, &st);
}

/* sys.realpath(path) -> absolute path with no symlinks, "." or ".." | nil, message. */
static int sys_realpath(lua_State *L)
{
    char *r = realpath(luaL_checkstring(L, 1), NULL);
    if (!r) {
        lua_pushnil(L);
        lua_pushstring(L, strerror(errno));
        return 2;
    }
    lua_pushstring(L, r);
    free(r);
    return 1;
}

/* sys.lock(fh) -> true | nil, message: an exclusive advisory lock (flock) on the open file,
 * without waiting. Held until the file is closed or the process ends (even by kill -9). */
static int sys_lock(lua_State *L)
{
    FILE *f = sys_checkfile(L, 1);
    if (flock(fileno(f), LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        lua_pushnil(L);
        lua_pushstring(L, e == EWOULDBLOCK ? "locked by another process" : strerror(e));
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* sys.linked(fh) -> true while the open file still has a name (false once it was removed, or
 * its directory was: writes would succeed into a file nobody can find) | nil, message. */
static int sys_linked(lua_State *L)
{
    FILE *f = sys_checkfile(L, 1);
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        lua_pushnil(L);
        lua_pushstring(L, strerror(errno));
        return 2;
    }
    lua_pushboolean(L, !S_ISREG(st.st_mode) || st.st_nlink > 0);
    return 1;
}

/* sys.ignore_signal(name): the signal is ignored (SIGPIPE: writes to a closed pipe fail with
 * EPIPE instead of killing the process, so the run can save what it has and say why). */
static int sys_ignore_signal(lua_State *L)
{
    sys_set_handler(L, luaL_checkstring(L, 1), SIG_IGN, 0);
    return 0;
}

/* sys.signal_pending() -> true when a trapped signal is waiting for sys.signal_caught (does not
 * clear it): cheap enough to ask before every row. */
static int sys_signal_pending(lua_State *L)
{
    lua_pushboolean(L, sys_caught_signal != 0);
    return 1;
}

/* Permission bits from an octal string ("0640"): 0..0777, or -1. */
static int sys_parse_mode(const char *s)
{
    if (!*s || strlen(s) > 4)
        return -1;
    int mode = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '7')
            return -1;
        mode = mode * 8 + (*s - '0');
    }
    return mode <= 0777 ? mode : -1;
}

/* sys.create_file(path, mode) -> true (created) | false (it existed: left as it is) | nil,
 * message. The new file is empty and gets exactly `mode` (an octal string such as "0640"),
 * whatever the process umask: a daemon's umask (nginx's is 0) must not make a journal
 * world-writable, and io.open can only create 0666 & ~umask. Never follows a symlink. */
static int sys_create_file(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    int mode = sys_parse_mode(luaL_checkstring(L, 2));
    if (mode < 0)
        return luaL_argerror(L, 2, "permission bits as an octal string, \"0000\" to \"0777\"");
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, (mode_t)mode);
    if (fd < 0 && errno == EEXIST) {
        lua_pushboolean(L, 0);
        return 1;
    }
    /* open() applied the umask: set the bits exactly. */
    if (fd < 0 || fchmod(fd, (mode_t)mode) != 0) {
        int e = errno;
        if (fd >= 0) {
            close(fd);
            unlink(path);
        }
        lua_pushnil(L);
        lua_pushfstring(L, "%s: %s", path, strerror(e));
        return 2;
    }
    if (close(fd) != 0) {
        int e = errno;
        lua_pushnil(L);
        lua_pushfstring(L, "%s: %s", path, strerror(e));
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

void cxb_lua_sys_open(lua_State *L)
{
    static const luaL_Reg funcs[] = {
        {"fsync", sys_fsync},         {"isatty", sys_isatty},
        {"monotime", sys_monotime},   {"getpid", sys_getpid},
        {"signal_trap", sys_signal_trap}, {"signal_caught", sys_signal_caught},
        {"signal_pending", sys_signal_pending}, {"ignore_signal", sys_ignore_signal},
        {"file_id", sys_file_id},     {"realpath", sys_realpath},
        {"lock", sys_lock},           {"linked", sys_linked},
        {"create_file", sys_create_file},
        {NULL, NULL}};
    lua_newtable(L);
    cxb_setfuncs(L, funcs);
}
