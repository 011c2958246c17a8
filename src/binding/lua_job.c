/* The job userdata and its life cycle (lua_job.h). */
#include "binding/lua_job.h"
#include "binding/compat.h"
#include "binding/lua_config.h"
#include "binding/lua_sys.h"
#include "common/fork_guard.h"
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The job handle Lua holds. The job's constants a task is built from — the batch id every key is
 * derived from and the contacts' URL prefix — are kept inline (batch id, NUL, prefix, NUL), so a
 * task carries only its own fields across the boundary. */
typedef struct lua_job {
    cxb_job *job;
    cxb_fork_guard *here; /* NULL only while the job is being made or could not be */
    pid_t pid;            /* the creator's, for the message */
    size_t batch_len, prefix_len;
    char consts[];
} lua_job;

/* core.new_job(cfg) -> job | nil, message, kind. cfg is the facade's validated option table, every
 * default filled (a value it should have refused raises). */
int cxb_lua_new_job(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    cxb_config c;
    cxb_lua_read_config(L, 1, &c);
    size_t batch_len, prefix_len;
    const char *batch = cxb_lua_config_lstring(L, 1, "batch_id", &batch_len);
    const char *prefix = cxb_lua_config_lstring(L, 1, "url_prefix", &prefix_len);

    lua_job *lj = lua_newuserdata(L, sizeof *lj + batch_len + 1 + prefix_len + 1);
    lj->job = NULL;
    lj->here = NULL;
    lj->pid = getpid();
    lj->batch_len = batch_len;
    lj->prefix_len = prefix_len;
    memcpy(lj->consts, batch, batch_len + 1);
    memcpy(lj->consts + batch_len + 1, prefix, prefix_len + 1);
    luaL_getmetatable(L, CXB_LUA_JOB_MT);
    lua_setmetatable(L, -2);
    char err[512];
    cxb_kind kind = CXB_KIND_INTERNAL;
    lj->here = cxb_fork_guard_new();
    if (!lj->here)
        snprintf(err, sizeof err, "out of memory");
    else
        lj->job = cxb_job_new(&c, &kind, err, sizeof err);
    if (!lj->job) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        lua_pushstring(L, cxb_kind_name(kind));
        return 3;
    }
    return 1;
}

static lua_job *job_check(lua_State *L)
{
    lua_job *lj = luaL_checkudata(L, 1, CXB_LUA_JOB_MT);
    if (lj->here && !cxb_fork_guard_here(lj->here))
        luaL_error(L, "cxone.bulk job used after fork (created in pid %d, used in pid %d): start jobs "
                      "in the process that uses them (nginx: init_worker_by_lua*, timers or request "
                      "handlers, never init_by_lua*)", (int)lj->pid, (int)getpid());
    return lj;
}

static cxb_job *job_open(lua_State *L)
{
    lua_job *lj = job_check(L);
    if (!lj->job)
        luaL_error(L, "cxone.bulk job is closed");
    return lj->job;
}

cxb_job *cxb_lua_job_open(lua_State *L)
{
    return job_open(L);
}

cxb_job *cxb_lua_job_consts(lua_State *L, cxb_lua_consts *k)
{
    cxb_job *j = job_open(L);
    const lua_job *lj = lua_touserdata(L, 1); /* job_open checked it */
    k->batch = lj->consts;
    k->batch_len = lj->batch_len;
    k->prefix = lj->consts + lj->batch_len + 1;
    k->prefix_len = lj->prefix_len;
    return j;
}

static int job_close_input(lua_State *L)
{
    cxb_job_close_input(job_open(L));
    return 0;
}

static int job_has_slot(lua_State *L)
{
    lua_pushboolean(L, cxb_job_has_slot(job_open(L)));
    return 1;
}

static int job_finished(lua_State *L)
{
    lua_pushboolean(L, cxb_job_finished(job_open(L)));
    return 1;
}

/* job:cancel([reason]): returns at once. */
static int job_cancel(lua_State *L)
{
    lua_job *lj = job_check(L);
    const char *reason = luaL_optstring(L, 2, NULL);
    if (lj->job)
        cxb_job_cancel_reason(lj->job, reason);
    return 0;
}

/* job:halt([reason]): returns at once; nothing more starts, what is in flight finishes. */
static int job_halt(lua_State *L)
{
    cxb_job_halt(job_open(L), luaL_optstring(L, 2, NULL));
    return 0;
}

/* job:attach_journal(fh): the journal's file (a Lua file handle); from now on no task's first
 * request leaves before job:intents_written(index) covered it and the file was synced. */
static int job_attach_journal(lua_State *L)
{
    cxb_job *j = job_open(L);
    FILE *f = cxb_lua_checkfile(L, 2);
    char err[300];
    if (fflush(f) != 0 || cxb_job_attach_journal(j, fileno(f), err, sizeof err) != 0)
        return luaL_error(L, "%s", err);
    return 0;
}

/* job:intents_written(index): the intent records of tasks up to index are written (flushed). */
static int job_intents_written(lua_State *L)
{
    cxb_job_intents_written(job_open(L), (uint64_t)luaL_checknumber(L, 2));
    return 0;
}

/* job:close(): cancel and join. Idempotent; every way of closing ends here or in job_gc. */
static int job_close(lua_State *L)
{
    lua_job *lj = job_check(L);
    if (lj->job) {
        cxb_job *j = lj->job;
        lj->job = NULL;
        cxb_job_close(j);
    }
    return 0;
}

/* __gc: cancel without blocking; the last worker thread out frees the job. In a forked child the
 * threads do not exist and the memory belongs to the parent's image: leave it alone. */
static int job_gc(lua_State *L)
{
    lua_job *lj = luaL_checkudata(L, 1, CXB_LUA_JOB_MT);
    if (lj->job && cxb_fork_guard_here(lj->here))
        cxb_job_release(lj->job);
    lj->job = NULL;
    cxb_fork_guard_free(lj->here); /* leaves a forked child's copy alone */
    lj->here = NULL;
    return 0;
}

static int job_tostring(lua_State *L)
{
    lua_job *lj = luaL_checkudata(L, 1, CXB_LUA_JOB_MT);
    lua_pushfstring(L, "cxone.job: %p%s", (void *)lj, lj->job ? "" : " (closed)");
    return 1;
}

void cxb_lua_job_methods(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"close_input", job_close_input}, {"has_slot", job_has_slot}, {"finished", job_finished},
        {"cancel", job_cancel},           {"halt", job_halt},         {"close", job_close},
        {"attach_journal", job_attach_journal}, {"intents_written", job_intents_written},
        {NULL, NULL}};
    cxb_setfuncs(L, methods);
}

void cxb_lua_job_meta(lua_State *L)
{
    lua_pushcfunction(L, job_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, job_close);
    lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, job_tostring);
    lua_setfield(L, -2, "__tostring");
}
