/* Tasks into a job (lua_intake.h). */
#include "binding/lua_intake.h"
#include "binding/compat.h"
#include "binding/lua_job.h"
#include "profile/idempotency.h"
#include "profile/plain_task.h"
#include "profile/request.h"
#include <string.h>

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

/* A string field of the table at idx; NULL (and *len 0) when absent and not required. */
static const char *str_field(lua_State *L, int idx, const char *name, size_t *len, int required)
{
    lua_getfield(L, idx, name);
    const char *v = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, len) : NULL;
    if (!v && (required || !lua_isnil(L, -1)))
        luaL_error(L, "task field '%s' must be a string", name);
    if (!v)
        *len = 0;
    lua_pop(L, 1); /* the table still holds the string: the pointer stays valid */
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

/* The request shape a table names (shape = "tutorial" | "cxone"). */
static enum cxb_shape shape_field(lua_State *L, int idx)
{
    static const char *const names[] = {"tutorial", "cxone", NULL};
    lua_getfield(L, idx, "shape");
    int i = luaL_checkoption(L, -1, NULL, names);
    lua_pop(L, 1);
    return i == 1 ? CXB_SHAPE_CXONE : CXB_SHAPE_TUTORIAL;
}

/* A task's named fields from the table at idx, by shape: id, the two outcome fields, cxone's
 * optional ones, and the task's own key (tutorial). */
static void request_fields(lua_State *L, int idx, enum cxb_shape shape, cxb_request_fields *f)
{
    static const char *const outcome[2][2] = {{"category", "subcategory"}, {"skill", "disposition_code"}};
    static const char *const optional[CXB_REQUEST_OPTIONAL] = {"notes", "callback_number", "callback_time",
                                                               "commitment_amount"};
    int cx = shape == CXB_SHAPE_CXONE;
    size_t unused;
    memset(f, 0, sizeof *f);
    f->id = str_field(L, idx, "id", &f->id_len, 1);
    for (int i = 0; i < 2; i++)
        f->outcome[i] = str_field(L, idx, outcome[cx][i], &f->outcome_len[i], 1);
    for (int i = 0; cx && i < CXB_REQUEST_OPTIONAL; i++)
        f->optional[i] = str_field(L, idx, optional[i], &unused, 0);
    if (!cx)
        f->key = str_field(L, idx, "key", &f->key_len, 0);
}

/* A task the facade refused: its one result, at once, without a request (the tutorial's carries
 * the key derived over an empty body, as it always has). */
static cxb_task *invalid_task(lua_State *L, const cxb_lua_consts *k, lua_Number index, enum cxb_shape shape)
{
    size_t id_len;
    const char *id = str_field(L, 2, "id", &id_len, 1);
    char derived[CXB_KEY_LEN + 1] = "";
    if (shape == CXB_SHAPE_TUTORIAL)
        cxb_idempotency_key(k->batch, k->batch_len, id, id_len, "", 0, derived);
    return cxb_task_new((uint64_t)index, id, id_len, "", 0, "", 0, derived, strlen(derived));
}

/* A checked task built by the one request builder (src/profile/request.h); the cxone URL is
 * left to the worker, which knows the discovered API host. */
static cxb_task *built_task(lua_State *L, const cxb_lua_consts *k, lua_Number index, enum cxb_shape shape)
{
    cxb_request_fields f;
    request_fields(L, 2, shape, &f);
    cxb_request_ctx ctx = {k->batch, k->batch_len, k->prefix, k->prefix_len, NULL, NULL};
    cxb_request r;
    char err[256];
    if (cxb_request_build(shape, &ctx, &f, &r, err, sizeof err) != 0)
        luaL_error(L, "task %d: %s", (int)index, err);
    /* What a read-back compares with, kept on the task (the worker never re-parses the body). */
    const char *notes = shape == CXB_SHAPE_CXONE && f.optional[0] && *f.optional[0] ? f.optional[0] : NULL;
    cxb_task_want want = {{f.outcome[0], f.outcome[1]}, notes};
    cxb_task *t = cxb_task_new_wanted((uint64_t)index, f.id, f.id_len, r.url ? r.url : "", r.url_len, r.body,
                                      r.body_len, r.key ? r.key : "", r.key_len, &want);
    cxb_request_free(&r);
    return t;
}

/* job:submit{index=, shape=, id=, the shape's named fields (category, subcategory, key | skill,
 * disposition_code, notes, ...), invalid=nil|message, verify=, read_only=, keep_before=,
 * skip_unchanged=} -> bool (false: the queue is full). The facade checked and mapped the
 * fields; the URL, body and key are built here, by the builder the plain path and the dry run
 * use. */
static int job_submit(lua_State *L)
{
    cxb_lua_consts k;
    cxb_job *j = cxb_lua_job_consts(L, &k);
    luaL_checktype(L, 2, LUA_TTABLE);
    if (!cxb_job_has_slot(j)) { /* before building: a full queue is the common case */
        lua_pushboolean(L, 0);
        return 1;
    }
    lua_getfield(L, 2, "index");
    lua_Number index = lua_tonumber(L, -1);
    lua_pop(L, 1);
    enum cxb_shape shape = shape_field(L, 2);
    size_t invalid_len;
    const char *invalid = str_field(L, 2, "invalid", &invalid_len, 0);
    cxb_task *t = invalid ? invalid_task(L, &k, index, shape) : built_task(L, &k, index, shape);
    if (t) {
        t->verify = task_flag(L, "verify");
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

/* Builds and queues the plain task id/cat/sub as task `index`: 1 queued, 0 queue full (nothing
 * queued), -1 not plainly valid (the general path takes it and words any refusal). */
static int plain_queue(lua_State *L, cxb_job *j, const cxb_lua_consts *k, lua_Number index, const char *id,
                       size_t id_len, const char *cat, size_t cat_len, const char *sub, size_t sub_len)
{
    plain_req r;
    if (plain_build(k->batch, k->batch_len, k->prefix, k->prefix_len, id, id_len, cat, cat_len, sub, sub_len,
                    &r) != 0)
        return -1;
    cxb_task *t = cxb_task_new((uint64_t)index, id, id_len, r.url, r.url_len, r.body, r.body_len, r.key,
                               CXB_KEY_LEN);
    if (!t)
        return luaL_error(L, "out of memory queueing task %d", (int)index);
    if (cxb_job_submit(j, t, NULL) != 0) {
        cxb_task_free(t);
        return 0;
    }
    return 1;
}

/* The fields feed_one reads, kept as submit_plain's and feed_plain's upvalues (lua_getfield with a C string
 * costs a lookup in Lua's string cache every time: six a task). The first three must be absent. */
static const char *const FEED_KEYS[] = {"outcome_code", "idempotency_key", "verify", "contact_id", "category",
                                        "subcategory"};
#define FEED_KEYS_N 6

/* Pushes field upvalue k (1-based) of the table at idx (a negative index, counted before the push). */
static int feed_field(lua_State *L, int idx, int k)
{
    lua_pushvalue(L, lua_upvalueindex(k));
    lua_gettable(L, idx - 1);
    return lua_type(L, -1);
}

/* The one test of a standard tutorial task (a table; contact_id, category, subcategory strings;
 * no outcome_code, idempotency_key or verify), on the value at the top of the stack; such a task
 * is queued as task `index`: 1, 0 (queue full), -1 (not plain: the general path). */
static int feed_one(lua_State *L, cxb_job *j, const cxb_lua_consts *k, lua_Number index)
{
    if (lua_type(L, -1) != LUA_TTABLE)
        return -1;
    for (int i = 1; i <= 3; i++) {
        int t = feed_field(L, -1, i);
        lua_pop(L, 1);
        if (t != LUA_TNIL)
            return -1;
    }
    const char *v[3];
    size_t len[3];
    for (int i = 0; i < 3; i++) {
        /* each value stays on the stack while it is used; the task is below the i pushed so far */
        if (feed_field(L, -1 - i, 4 + i) != LUA_TSTRING) {
            lua_pop(L, i + 1);
            return -1;
        }
        v[i] = lua_tolstring(L, -1, &len[i]);
    }
    int rc = plain_queue(L, j, k, index, v[0], len[0], v[1], len[1], v[2], len[2]);
    lua_pop(L, 3);
    return rc;
}

/* job:submit_plain(index, task) -> true, false (queue full), or nil when the task is not a
 * standard tutorial task and must take job:submit, whose validator words any refusal (upvalues:
 * FEED_KEYS). The same test and builder as feed_plain: one place says what "plain" is. */
static int job_submit_plain(lua_State *L)
{
    cxb_lua_consts k;
    cxb_job *j = cxb_lua_job_consts(L, &k);
    lua_Number index = luaL_checknumber(L, 2);
    luaL_checkany(L, 3);
    lua_settop(L, 3);
    if (!cxb_job_has_slot(j)) {
        lua_pushboolean(L, 0);
        return 1;
    }
    int rc = feed_one(L, j, &k, index);
    if (rc < 0)
        lua_pushnil(L);
    else
        lua_pushboolean(L, rc);
    return 1;
}

/* job:feed_plain(iter, n) -> n, how[, value] (upvalues: FEED_KEYS): the plain path's intake
 * loop, in C because it runs once per task (the Lua loop it replaces cost about a tenth of the
 * owner thread). While the queue has room it calls iter and queues each standard tutorial task (as submit_plain would),
 * numbering them from n + 1; it returns the last number given and why it stopped:
 *   "full"    no room (iter was not called for a task that could not be queued)
 *   "end"     iter returned nil
 *   "error"   iter raised; value is what it raised
 *   "other"   value, numbered n, is not a standard task: the facade takes it the general way
 *   "stopped" the job was cancelled or halted (by iter itself): the facade goes on task by task
 * Only for jobs whose every standard task may take the plain path (no journal, no reads, no
 * canary, no outcome check): the facade decides. */
static int feed_stop(lua_State *L, long n, const char *how, int with_value)
{
    cxb_pushint(L, n);
    lua_pushstring(L, how);
    if (!with_value)
        return 2;
    lua_pushvalue(L, -3); /* the task, or what iter raised */
    return 3;
}

static int job_feed_plain(lua_State *L)
{
    cxb_lua_consts k;
    cxb_job *j = cxb_lua_job_consts(L, &k);
    luaL_checkany(L, 2);
    long n = (long)luaL_checknumber(L, 3);
    lua_settop(L, 3);
    for (;;) {
        if (!cxb_job_has_slot(j))
            return feed_stop(L, n, "full", 0);
        if (cxb_job_stopped(j))
            return feed_stop(L, n, "stopped", 0);
        lua_pushvalue(L, 2);
        if (lua_pcall(L, 0, 1, 0) != 0)
            return feed_stop(L, n, "error", 1);
        if (lua_isnil(L, -1))
            return feed_stop(L, n, "end", 0);
        n++;
        if (feed_one(L, j, &k, (lua_Number)n) != 1) /* never 0 (full): there was room */
            return feed_stop(L, n, "other", 1);
        lua_pop(L, 1);
    }
}

/* core.plain_request(url_prefix, batch_id, contact_id, category, subcategory) -> url, body, key,
 * or nil when the task would take the general path. What job:submit_plain would queue; for the
 * spec that holds it to the facade's bytes. */
int cxb_lua_plain_request(lua_State *L)
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

/* core.request{shape=, batch_id=, url_prefix= (tutorial), api_base=, api_version= (cxone), id=,
 * the shape's named fields} -> {method=, url=, body=, idempotency_key=} | nil, message: what a
 * job would send for the task, built by the same builder, without sending (the dry run). */
int cxb_lua_request(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    enum cxb_shape shape = shape_field(L, 1);
    cxb_request_fields f;
    request_fields(L, 1, shape, &f);
    size_t unused;
    cxb_request_ctx ctx = {NULL, 0, NULL, 0, NULL, NULL};
    ctx.batch = str_field(L, 1, "batch_id", &ctx.batch_len, 1);
    ctx.url_prefix = str_field(L, 1, "url_prefix", &ctx.url_prefix_len, shape == CXB_SHAPE_TUTORIAL);
    ctx.api_base = str_field(L, 1, "api_base", &unused, shape == CXB_SHAPE_CXONE);
    ctx.api_version = str_field(L, 1, "api_version", &unused, shape == CXB_SHAPE_CXONE);
    cxb_request r;
    char err[256];
    if (cxb_request_build(shape, &ctx, &f, &r, err, sizeof err) != 0) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    lua_createtable(L, 0, 4);
    lua_pushstring(L, r.method);
    lua_setfield(L, -2, "method");
    lua_pushlstring(L, r.url, r.url_len);
    lua_setfield(L, -2, "url");
    lua_pushlstring(L, r.body, r.body_len);
    lua_setfield(L, -2, "body");
    if (r.key_len) {
        lua_pushlstring(L, r.key, r.key_len);
        lua_setfield(L, -2, "idempotency_key");
    }
    cxb_request_free(&r);
    return 1;
}

/* job:fetch(url[, id]) -> bool: a metadata GET with the job's token and limiter; its result
 * comes back from job:fetched() (never from take()) with name = id and the response in `body`. With
 * api = "cxone" the URL is built on the worker (the API host is discovered there): id is the
 * skill whose dispositions are fetched, url is ignored. */
static int job_fetch(lua_State *L)
{
    cxb_job *j = cxb_lua_job_open(L);
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

void cxb_lua_intake_methods(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"submit", job_submit}, {"fetch", job_fetch}, {NULL, NULL}};
    cxb_setfuncs(L, methods);
    static const struct { const char *name; lua_CFunction f; } plain[] = {
        {"submit_plain", job_submit_plain}, {"feed_plain", job_feed_plain}};
    for (int m = 0; m < 2; m++) {
        for (int k = 0; k < FEED_KEYS_N; k++)
            lua_pushstring(L, FEED_KEYS[k]);
        lua_pushcclosure(L, plain[m].f, FEED_KEYS_N);
        lua_setfield(L, -2, plain[m].name);
    }
}
