/* cxone.bulk.core: the Lua binding of the worker pool. Converts opts to a C config, wraps the
 * job in a userdata, and turns finished tasks and events into Lua tables on the owner's thread. */
#define _GNU_SOURCE /* dladdr, RTLD_NODELETE */
#include "binding/compat.h"
#include "profile/disposition.h"
#include "profile/idempotency.h"
#include "profile/plain_task.h"
#include "engine/job.h"
#include "binding/lua_metrics.h"
#include "binding/lua_rate.h"
#include "binding/lua_sys.h"
#include "limiter/rate_ctl.h"
#include <dlfcn.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define JOB_MT "cxone.bulk.job"
#define TAKE_MAX 256

/* The job handle Lua holds. The job's constants a task is built from — the batch id every key is
 * derived from and the contacts' URL prefix — are kept inline (batch id, NUL, prefix, NUL), so a
 * task carries only its own fields across the boundary. */
typedef struct lua_job {
    cxb_job *job;
    pid_t pid;
    size_t batch_len, prefix_len;
    char consts[];
} lua_job;

/* ---- config -------------------------------------------------------------------------------- */

/* Upper bounds of the number options: far above any real use, and low enough that every
 * conversion below is exact (int, size_t, libcurl's milliseconds in a 32-bit long). */
#define CFG_MAX_WORKERS 4096
#define CFG_MAX_RETRIES 1000000
#define CFG_MAX_SECONDS 1e6   /* ~11.6 days */
#define CFG_MAX_RATE 1e9
#define CFG_MAX_QUEUE 1e8

/* Raises an option or limiter error as it is. luaL_error would prefix the position of the Lua
 * line that called into the core (".../cxone/bulk.lua:296:"), a path that means nothing to the
 * operator reading "--shared-limit: not a valid redis:// URL". */
static int cfg_raise(lua_State *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int cfg_raise(lua_State *L, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    lua_pushstring(L, msg);
    return lua_error(L);
}

/* The facade (bulk.lua, from lua/cxone/bulk/options.lua) fills in every default and hands over
 * a complete table; the core keeps no defaults of its own, so a missing value is the caller's
 * bug and is refused by name rather than silently replaced. */
static int cfg_missing(lua_State *L, const char *name)
{
    return cfg_raise(L, "option '%s' is required (the facade passes every option's default)", name);
}

/* A string option; NULL when absent and optional, an error when absent and required. */
static const char *cfg_string(lua_State *L, int t, const char *name, int required)
{
    lua_getfield(L, t, name);
    const char *s = NULL;
    if (lua_isnil(L, -1)) {
        if (required)
            cfg_missing(L, name);
    } else if (lua_type(L, -1) != LUA_TSTRING) {
        cfg_raise(L, "option '%s' must be a string", name);
    } else {
        s = lua_tostring(L, -1);
    }
    lua_pop(L, 1); /* the string stays alive: it is referenced by the opts table */
    return s;
}

/* A number option; `def` is returned only when the option is optional (required == 0). */
static double cfg_number(lua_State *L, int t, const char *name, int required, double def)
{
    lua_getfield(L, t, name);
    double v = def;
    if (lua_isnil(L, -1)) {
        if (required)
            cfg_missing(L, name);
    } else if (lua_type(L, -1) != LUA_TNUMBER) {
        cfg_raise(L, "option '%s' must be a number", name);
    } else {
        v = lua_tonumber(L, -1);
    }
    lua_pop(L, 1);
    return v;
}

/* A required number option within [lo, hi] (finite by construction; NaN fails every
 * comparison). The Lua facade checks options first; this is the defence behind it, so that no
 * value the C config cannot represent (2^31 retries cast to int, a NaN timeout) is ever
 * silently changed. */
static double cfg_range(lua_State *L, int t, const char *name, double lo, double hi, int integer)
{
    double v = cfg_number(L, t, name, 1, 0);
    if (!(v >= lo && v <= hi) || (integer && v != floor(v))) {
        char msg[200]; /* lua_pushfstring knows no %g */
        snprintf(msg, sizeof msg, "option '%s' must be %s between %.15g and %.15g (got %.17g)", name,
                 integer ? "an integer" : "a number", lo, hi, v);
        cfg_raise(L, "%s", msg);
    }
    return v;
}

/* For options where 0 is not allowed but any tiny positive value is (timeouts, rate). */
static double cfg_positive(lua_State *L, int t, const char *name, double hi)
{
    double v = cfg_number(L, t, name, 1, 0);
    if (!(v > 0 && v <= hi)) {
        char msg[200];
        snprintf(msg, sizeof msg, "option '%s' must be a number > 0 and <= %.15g (got %.17g)", name, hi, v);
        cfg_raise(L, "%s", msg);
    }
    return v;
}

/* A required boolean option. */
static int cfg_bool(lua_State *L, int t, const char *name)
{
    lua_getfield(L, t, name);
    if (lua_isnil(L, -1))
        cfg_missing(L, name);
    if (lua_type(L, -1) != LUA_TBOOLEAN)
        cfg_raise(L, "option '%s' must be a boolean", name);
    int v = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

/* A required string of the config table (it stays referenced there while the caller runs). */
static const char *cfg_lstring(lua_State *L, int t, const char *name, size_t *len)
{
    lua_getfield(L, t, name);
    if (lua_type(L, -1) != LUA_TSTRING)
        cfg_missing(L, name);
    const char *v = lua_tolstring(L, -1, len);
    lua_pop(L, 1);
    return v;
}

/* Fills c from the facade's complete, validated option table; raises naming a bad option. */
static void cfg_read(lua_State *L, int t, cxb_config *c)
{
    memset(c, 0, sizeof *c);
    const char *api = cfg_string(L, t, "api", 1);
    c->cxone = strcmp(api, "cxone") == 0;
    if (!c->cxone && strcmp(api, "tutorial") != 0)
        cfg_raise(L, "option 'api' must be \"tutorial\" or \"cxone\"");
    /* cxone: the token endpoint is discovered unless given; the access key is required. */
    c->token_url = cfg_string(L, t, "token_url", !c->cxone);
    c->client_id = cfg_string(L, t, "client_id", 1);
    c->client_secret = cfg_string(L, t, "client_secret", 1);
    c->access_key_id = cfg_string(L, t, "access_key_id", c->cxone);
    c->access_key_secret = cfg_string(L, t, "access_key_secret", c->cxone);
    c->issuer = cfg_string(L, t, "issuer", 1);
    c->tenant_id = cfg_string(L, t, "tenant_id", 0);
    c->api_base = cfg_string(L, t, "api_base", 0);
    c->api_version = cfg_string(L, t, "api_version", 1);
    c->max_unreachable = (int)cfg_range(L, t, "max_unreachable", 0, CFG_MAX_RETRIES, 1);
    c->scope = cfg_string(L, t, "scope", 1);
    c->basic_auth = cfg_bool(L, t, "basic_auth");
    c->workers = (int)cfg_range(L, t, "workers", 1, CFG_MAX_WORKERS, 1);
    c->rate = cfg_positive(L, t, "rate", CFG_MAX_RATE);
    c->rate_auto = cfg_bool(L, t, "rate_auto");
    c->max_rate = c->rate_auto ? cfg_positive(L, t, "max_rate", CFG_MAX_RATE) : c->rate;
    c->burst = cfg_range(L, t, "burst", 1, CFG_MAX_RATE, 0);
    c->shared_limit = cfg_string(L, t, "shared_limit", 0);
    c->max_retries = (int)cfg_range(L, t, "max_retries", 0, CFG_MAX_RETRIES, 1);
    c->backoff_base = cfg_range(L, t, "backoff_base", 0, CFG_MAX_SECONDS, 0);
    c->backoff_max = cfg_range(L, t, "backoff_max", 0, CFG_MAX_SECONDS, 0);
    c->timeout = cfg_positive(L, t, "timeout", CFG_MAX_SECONDS);
    c->connect_timeout = cfg_positive(L, t, "connect_timeout", CFG_MAX_SECONDS);
    c->pause_threshold = cfg_range(L, t, "pause_threshold", 0, CFG_MAX_SECONDS, 0);
    c->shared_limit_timeout = cfg_positive(L, t, "shared_limit_timeout", CFG_MAX_SECONDS);
    c->shared_limit_fallback = cfg_string(L, t, "shared_limit_fallback", 0);
    c->ca_file = cfg_string(L, t, "ca_file", 0);
    c->insecure = cfg_bool(L, t, "insecure");
    c->queue_size = (size_t)cfg_range(L, t, "queue_size", 1, CFG_MAX_QUEUE, 1);
    c->preflight = cfg_bool(L, t, "preflight");
}

/* core.new_job(cfg) -> job | nil, message, kind. cfg is the facade's validated option table, every
 * default filled (a value it should have refused raises). */
static int core_new_job(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    cxb_config c;
    cfg_read(L, 1, &c);
    size_t batch_len, prefix_len;
    const char *batch = cfg_lstring(L, 1, "batch_id", &batch_len);
    const char *prefix = cfg_lstring(L, 1, "url_prefix", &prefix_len);

    lua_job *lj = lua_newuserdata(L, sizeof *lj + batch_len + 1 + prefix_len + 1);
    lj->job = NULL;
    lj->pid = getpid();
    lj->batch_len = batch_len;
    lj->prefix_len = prefix_len;
    memcpy(lj->consts, batch, batch_len + 1);
    memcpy(lj->consts + batch_len + 1, prefix, prefix_len + 1);
    luaL_getmetatable(L, JOB_MT);
    lua_setmetatable(L, -2);
    char err[512];
    cxb_kind kind;
    lj->job = cxb_job_new(&c, &kind, err, sizeof err);
    if (!lj->job) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        lua_pushstring(L, cxb_kind_name(kind));
        return 3;
    }
    return 1;
}

/* ---- job methods --------------------------------------------------------------------------- */

static lua_job *job_check(lua_State *L)
{
    lua_job *lj = luaL_checkudata(L, 1, JOB_MT);
    if (lj->pid != getpid())
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

/* Queues a built task; pushes true, or false when the queue is full (the task is freed). */
static int job_queue(lua_State *L, cxb_job *j, cxb_task *t, const char *invalid, lua_Number index)
{
    if (!t)
        return luaL_error(L, "out of memory queueing task %d", (int)index);
    if (cxb_job_submit(j, t, invalid) != 0) { /* only the owner submits, so a slot seen stays free */
        cxb_task_free(t);
        lua_pushboolean(L, 0);
        return 1;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* A string field of a prepared task; NULL (and *len 0) when absent and not required. */
static const char *task_field(lua_State *L, const char *name, size_t *len, int required)
{
    lua_getfield(L, 2, name);
    const char *v = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, len) : NULL;
    if (!v && (required || !lua_isnil(L, -1)))
        luaL_error(L, "job:submit: task field '%s' must be a string", name);
    if (!v)
        *len = 0;
    lua_pop(L, 1); /* the task table still holds the string: the pointer stays valid */
    return v;
}

/* A boolean field of a prepared task (absent: false). */
static int task_flag(lua_State *L, const char *name)
{
    lua_getfield(L, 2, name);
    int v = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

/* job:submit{index=, id=, url=, body=, key=nil|string, invalid=nil|message, verify=, read_only=,
 * keep_before=, skip_unchanged=} -> bool (false: the
 * queue is full). The facade validated the task; without a key one is derived from the job's
 * batch id, the contact id and the body. */
static int job_submit(lua_State *L)
{
    cxb_job *j = job_open(L);
    const lua_job *lj = lua_touserdata(L, 1); /* job_open checked it */
    luaL_checktype(L, 2, LUA_TTABLE);
    if (!cxb_job_has_slot(j)) { /* before deriving the key: a full queue is the common case */
        lua_pushboolean(L, 0);
        return 1;
    }
    lua_getfield(L, 2, "index");
    lua_Number index = lua_tonumber(L, -1);
    lua_pop(L, 1);
    size_t id_len, url_len, body_len, key_len, invalid_len;
    const char *id = task_field(L, "id", &id_len, 1);
    const char *url = task_field(L, "url", &url_len, 1);
    const char *body = task_field(L, "body", &body_len, 1);
    const char *key = task_field(L, "key", &key_len, 0);
    const char *invalid = task_field(L, "invalid", &invalid_len, 0);
    int verify = task_flag(L, "verify");
    char derived[CXB_KEY_LEN + 1];
    if (!key) {
        cxb_idempotency_key(lj->consts, lj->batch_len, id, id_len, body, body_len, derived);
        key = derived;
        key_len = CXB_KEY_LEN;
    }
    cxb_task *t = cxb_task_new((uint64_t)index, id, id_len, url, url_len, body, body_len, key, key_len);
    if (t) {
        t->verify = verify;
        t->read_only = task_flag(L, "read_only");
        t->keep_before = task_flag(L, "keep_before");
        t->skip_unchanged = task_flag(L, "skip_unchanged");
    }
    return job_queue(L, j, t, invalid, index);
}

/* The request of a plain task (src/profile/plain_task.h) into the caller's buffers; 0, or -1 when the
 * task is not plainly valid or the URL would not fit (the general path then takes it). */
typedef struct plain_req {
    char url[4096], body[CXB_PLAIN_BODY_MAX], key[CXB_KEY_LEN + 1];
    size_t url_len, body_len;
} plain_req;

static int plain_build(const char *batch, size_t batch_len, const char *prefix, size_t prefix_len,
                       const char *id, size_t id_len, const char *cat, size_t cat_len, const char *sub,
                       size_t sub_len, plain_req *r)
{
    if (!cxb_plain_accepts(id, id_len, cat, cat_len, sub, sub_len) ||
        prefix_len + CXB_PLAIN_URL_TAIL_MAX > sizeof r->url)
        return -1;
    r->body_len = cxb_plain_body(cat, cat_len, sub, sub_len, r->body);
    cxb_idempotency_key(batch, batch_len, id, id_len, r->body, r->body_len, r->key);
    memcpy(r->url, prefix, prefix_len);
    r->url_len = prefix_len + cxb_plain_url_tail(id, id_len, r->url + prefix_len);
    return 0;
}

/* job:submit_plain(index, contact_id, category, subcategory) -> true, false (queue full), or nil
 * when the task is not plainly valid and must take job:submit: URL, body and key built here,
 * byte for byte what the facade builds. */
static int job_submit_plain(lua_State *L)
{
    cxb_job *j = job_open(L);
    const lua_job *lj = lua_touserdata(L, 1);
    lua_Number index = luaL_checknumber(L, 2);
    size_t id_len, cat_len, sub_len;
    const char *id = luaL_checklstring(L, 3, &id_len);
    const char *cat = luaL_checklstring(L, 4, &cat_len);
    const char *sub = luaL_checklstring(L, 5, &sub_len);
    if (!cxb_job_has_slot(j)) {
        lua_pushboolean(L, 0);
        return 1;
    }
    plain_req r;
    if (plain_build(lj->consts, lj->batch_len, lj->consts + lj->batch_len + 1, lj->prefix_len, id, id_len,
                    cat, cat_len, sub, sub_len, &r) != 0) {
        lua_pushnil(L);
        return 1;
    }
    cxb_task *t = cxb_task_new((uint64_t)index, id, id_len, r.url, r.url_len, r.body, r.body_len, r.key,
                               CXB_KEY_LEN);
    return job_queue(L, j, t, NULL, index);
}

/* core.plain_request(url_prefix, batch_id, contact_id, category, subcategory) -> url, body, key,
 * or nil when the task would take the general path. What job:submit_plain would queue; for the
 * spec that holds it to the facade's bytes. */
static int core_plain_request(lua_State *L)
{
    size_t pl, bl, il, cl, sl;
    const char *prefix = luaL_checklstring(L, 1, &pl);
    const char *batch = luaL_checklstring(L, 2, &bl);
    const char *id = luaL_checklstring(L, 3, &il);
    const char *cat = luaL_checklstring(L, 4, &cl);
    const char *sub = luaL_checklstring(L, 5, &sl);
    plain_req r;
    if (plain_build(batch, bl, prefix, pl, id, il, cat, cl, sub, sl, &r) != 0) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushlstring(L, r.url, r.url_len);
    lua_pushlstring(L, r.body, r.body_len);
    lua_pushstring(L, r.key);
    return 3;
}

/* job:fetch(url[, id]) -> bool: an auxiliary GET with the job's token and limiter; its result
 * comes back from take() with index 0, contact_id = id and the response in `body`. With
 * api = "cxone" the URL is built on the worker (the API host is discovered there): id is the
 * skill whose dispositions are fetched, url is ignored. */
static int job_fetch(lua_State *L)
{
    cxb_job *j = job_open(L);
    size_t url_len, id_len = 0;
    const char *url = luaL_checklstring(L, 2, &url_len);
    const char *id = luaL_optlstring(L, 3, "", &id_len);
    cxb_task *t = cxb_task_new(0, id, id_len, url, url_len, "", 0, "", 0);
    if (!t)
        return luaL_error(L, "out of memory");
    if (cxb_job_submit_fetch(j, t) != 0) {
        cxb_task_free(t);
        lua_pushboolean(L, 0);
        return 1;
    }
    lua_pushboolean(L, 1);
    return 1;
}

static void set_str(lua_State *L, const char *k, const char *v)
{
    lua_pushstring(L, v);
    lua_setfield(L, -2, k);
}

static void set_num(lua_State *L, const char *k, double v)
{
    lua_pushnumber(L, v);
    lua_setfield(L, -2, k);
}

static void set_int(lua_State *L, const char *k, long v)
{
    cxb_pushint(L, v);
    lua_setfield(L, -2, k);
}

static void set_bool(lua_State *L, const char *k, int v)
{
    lua_pushboolean(L, v);
    lua_setfield(L, -2, k);
}

static void push_result(lua_State *L, const cxb_task *t)
{
    lua_createtable(L, 0, 12);
    set_int(L, "index", (long)t->index);
    set_str(L, "contact_id", t->contact_id);
    set_bool(L, "ok", t->ok);
    set_int(L, "status", t->status);
    if (t->error)
        set_str(L, "error", t->error);
    else if (!t->ok)
        set_str(L, "error", "failed (no detail: out of memory)");
    set_int(L, "attempts", t->attempts);
    if (t->key[0])
        set_str(L, "idempotency_key", t->key);
    set_bool(L, "replayed", t->replayed);
    if (t->verified)
        set_bool(L, "verified", 1);
    set_num(L, "elapsed", t->elapsed);
    if (t->cancelled)
        set_bool(L, "cancelled", 1);
    if (t->invalid)
        set_bool(L, "invalid", 1);
    if (t->skipped)
        set_bool(L, "skipped", 1);
    if (t->unchanged)
        set_bool(L, "unchanged", 1);
    if (t->before) { /* the facade decodes it into `before` */
        lua_pushlstring(L, t->before, t->before_len);
        lua_setfield(L, -2, "before_body");
    }
    if (t->unknown)
        set_bool(L, "outcome_unknown", 1);
    if (!t->ok)
        set_str(L, "error_kind", cxb_kind_name(t->kind));
    cxb_lua_set_timing(L, t);
    if (t->fetch) {
        set_bool(L, "fetch", 1);
        if (t->response) {
            lua_pushlstring(L, t->response, t->response_len);
            lua_setfield(L, -2, "body");
        }
    }
}

/* job:take(wait_seconds, want_slot) -> array of results */
static int job_take(lua_State *L)
{
    cxb_job *j = job_open(L);
    double wait = luaL_optnumber(L, 2, 0);
    int want_slot = lua_toboolean(L, 3);
    cxb_task *buf[TAKE_MAX];
    size_t n = cxb_job_take(j, buf, TAKE_MAX, wait, want_slot);
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        push_result(L, buf[i]);
        lua_rawseti(L, -2, (int)i + 1);
    }
    for (size_t i = 0; i < n; i++)
        cxb_task_free(buf[i]);
    return 1;
}

static const char *event_name(cxb_event_type t)
{
    switch (t) {
    case CXB_EV_RETRY: return "retry";
    case CXB_EV_PAUSE: return "pause";
    case CXB_EV_TOKEN: return "token_refresh";
    case CXB_EV_REAUTH: return "reauth";
    case CXB_EV_LIMITER: return "limiter";
    case CXB_EV_RATE: return "rate";
    }
    return "unknown";
}

/* job:events() -> array of events */
static int job_events(lua_State *L)
{
    cxb_job *j = job_open(L);
    cxb_event ev[64];
    lua_newtable(L);
    int k = 0;
    size_t n;
    while ((n = cxb_job_events(j, ev, 64)) > 0) {
        for (size_t i = 0; i < n; i++) {
            lua_createtable(L, 0, 7);
            set_str(L, "type", event_name(ev[i].type));
            set_num(L, "at", floor(ev[i].at * 1e3 + 0.5) / 1e3);
            if (ev[i].index) {
                set_int(L, "index", (long)ev[i].index);
                set_str(L, "contact_id", ev[i].contact_id);
            }
            if (ev[i].attempt)
                set_int(L, "attempt", ev[i].attempt);
            if (ev[i].status)
                set_int(L, "status", ev[i].status);
            if (ev[i].delay > 0)
                set_num(L, "delay", ev[i].delay);
            if (ev[i].error[0])
                set_str(L, ev[i].type == CXB_EV_RATE ? "message" : "error", ev[i].error);
            if (ev[i].type == CXB_EV_RATE) {
                set_num(L, "rate", ev[i].rate);
                set_num(L, "previous", ev[i].rate_prev);
                set_str(L, "reason", cxb_rate_reason_name(ev[i].reason));
            }
            lua_rawseti(L, -2, ++k);
        }
    }
    return 1;
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

/* job:counters() -> table, fatal message or nil, fatal kind or nil */
static int job_counters(lua_State *L)
{
    cxb_job *j = job_open(L);
    cxb_counters c;
    cxb_kind kind = CXB_KIND_NONE;
    char fatal[512];
    cxb_job_counters(j, &c, &kind, fatal, sizeof fatal);
    lua_createtable(L, 0, 20);
    set_int(L, "total", c.total);
    set_int(L, "succeeded", c.succeeded);
    set_int(L, "failed", c.failed);
    set_int(L, "retried", c.retried);
    set_int(L, "requests", c.requests);
    set_int(L, "replayed", c.replayed);
    set_int(L, "invalid", c.invalid);
    set_int(L, "cancelled", c.cancelled);
    set_int(L, "skipped", c.skipped);
    set_int(L, "verified", c.verified);
    set_int(L, "http_429", c.http_429);
    set_int(L, "http_5xx", c.http_5xx);
    set_int(L, "transport_errors", c.transport_errors);
    set_int(L, "token_refreshes", c.token_refreshes);
    set_int(L, "reauths", c.reauths);
    set_int(L, "pauses", c.pauses);
    set_num(L, "pause_seconds", c.pause_seconds);
    set_int(L, "events_dropped", c.events_dropped);
    lua_newtable(L);
    for (int s = 0; s < 600; s++) {
        if (c.by_status[s]) {
            char k[12];
            snprintf(k, sizeof k, "%d", s);
            set_int(L, k, c.by_status[s]);
        }
    }
    lua_setfield(L, -2, "by_status");
    if (!kind) {
        lua_pushnil(L);
        lua_pushnil(L);
        return 3;
    }
    lua_pushstring(L, fatal);
    lua_pushstring(L, cxb_kind_name(kind));
    return 3;
}

/* job:metrics() -> the metrics snapshot (src/binding/lua_metrics.h); works until the job is closed. */
static int job_metrics(lua_State *L)
{
    cxb_lua_push_metrics(L, job_open(L));
    return 1;
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
    lua_job *lj = luaL_checkudata(L, 1, JOB_MT);
    if (lj->job && lj->pid == getpid())
        cxb_job_release(lj->job);
    lj->job = NULL;
    return 0;
}

static int job_tostring(lua_State *L)
{
    lua_job *lj = luaL_checkudata(L, 1, JOB_MT);
    lua_pushfstring(L, "cxone.job: %p%s", (void *)lj, lj->job ? "" : " (closed)");
    return 1;
}

/* core.derive_key(batch_id, contact_id, body) -> the Idempotency-Key a task would carry */
static int core_derive_key(lua_State *L)
{
    size_t bl, il, yl;
    const char *b = luaL_checklstring(L, 1, &bl);
    const char *i = luaL_checklstring(L, 2, &il);
    const char *y = luaL_checklstring(L, 3, &yl);
    char key[CXB_KEY_LEN + 1];
    cxb_idempotency_key(b, bl, i, il, y, yl, key);
    lua_pushstring(L, key);
    return 1;
}

static const char *disp_field(lua_State *L, const char *name)
{
    lua_getfield(L, 1, name);
    const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    lua_pop(L, 1); /* still referenced by the table */
    return s;
}

/* core.disposition_body{skill=, disposition_code=, notes=, ...} -> body | nil, message: the
 * cxone set-disposition body, the same bytes the read-back is later compared with. */
static int core_disposition_body(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    struct cxb_disposition d = {disp_field(L, "skill"), disp_field(L, "disposition_code"),
                                disp_field(L, "notes"), disp_field(L, "callback_number"),
                                disp_field(L, "callback_time"), disp_field(L, "commitment_amount")};
    char err[256];
    size_t len = 0;
    char *body = cxb_disposition_body(&d, &len, err, sizeof err);
    if (!body) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    lua_pushlstring(L, body, len);
    free(body);
    return 1;
}

/* Keeps this shared object mapped for the life of the process: a job released by __gc may still
 * have worker threads running our code after the Lua state unloads the module (lua_close). */
static void core_pin_module(void)
{
    Dl_info info;
    if (dladdr((void *)core_pin_module, &info) && info.dli_fname)
        (void)dlopen(info.dli_fname, RTLD_NOW | RTLD_NODELETE | RTLD_NOLOAD);
}

__attribute__((visibility("default"))) int luaopen_cxone_bulk_core(lua_State *L)
{
    static const luaL_Reg job_methods[] = {
        {"submit", job_submit},       {"submit_plain", job_submit_plain}, {"fetch", job_fetch},
        {"take", job_take},           {"events", job_events},
        {"close_input", job_close_input}, {"has_slot", job_has_slot}, {"finished", job_finished},
        {"cancel", job_cancel},       {"halt", job_halt},         {"counters", job_counters},
        {"metrics", job_metrics},
        {"close", job_close},
        {"attach_journal", job_attach_journal}, {"intents_written", job_intents_written},
        {NULL, NULL}};
    static const luaL_Reg core_funcs[] = {
        {"new_job", core_new_job}, {"derive_key", core_derive_key},
        {"disposition_body", core_disposition_body}, {"plain_request", core_plain_request}, {NULL, NULL}};

    if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK) /* once, before any worker exists */
        return luaL_error(L, "curl_global_init failed");
    core_pin_module();
    if (luaL_newmetatable(L, JOB_MT)) {
        lua_newtable(L);
        cxb_setfuncs(L, job_methods);
        cxb_lua_rate_methods(L);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, job_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, job_close);
        lua_setfield(L, -2, "__close");
        lua_pushcfunction(L, job_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_pop(L, 1);
    lua_newtable(L);
    cxb_setfuncs(L, core_funcs);
    cxb_lua_sys_open(L);
    lua_setfield(L, -2, "sys");
    lua_pushstring(L, curl_version());
    lua_setfield(L, -2, "curl_version");
    return 1;
}
