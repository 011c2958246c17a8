/* What a job reports to Lua (lua_results.h). */
#include "binding/lua_results.h"
#include "binding/lua_fields.h"
#include "binding/compat.h"
#include "binding/lua_job.h"
#include "binding/lua_metrics.h"
#include "limiter/rate_ctl.h"
#include <math.h>
#include <stdio.h>

#define TAKE_MAX 256

/* The fields every result has, set with their key strings kept as job:take's upvalues:
 * lua_setfield with a C string looks the key up in Lua's string cache (a strcmp) every time,
 * and these are set ten times a result, tens of thousands of times a second. */
enum { RK_INDEX = 1, RK_CONTACT_ID, RK_OK, RK_STATUS, RK_ATTEMPTS, RK_KEY, RK_REPLAYED, RK_ELAPSED, RK_AT,
       RK_LATENCY, RK_COUNT = RK_LATENCY };
static const char *const RESULT_KEYS[RK_COUNT] = {"index", "contact_id", "ok", "status", "attempts",
                                                  "idempotency_key", "replayed", "elapsed", "at", "latency"};

/* Sets the value on top of the stack as field k of the table below it. */
static void rk_set(lua_State *L, int k)
{
    lua_pushvalue(L, lua_upvalueindex(k));
    lua_insert(L, -2);
    lua_rawset(L, -3);
}

static void push_result(lua_State *L, const cxb_task *t)
{
    lua_createtable(L, 0, 12);
    cxb_pushint(L, (long)t->index);
    rk_set(L, RK_INDEX);
    lua_pushstring(L, t->contact_id);
    rk_set(L, RK_CONTACT_ID);
    lua_pushboolean(L, t->ok);
    rk_set(L, RK_OK);
    cxb_pushint(L, t->status);
    rk_set(L, RK_STATUS);
    if (t->error)
        cxb_set_str(L, "error", t->error);
    else if (!t->ok)
        cxb_set_str(L, "error", "failed (no detail: out of memory)");
    cxb_pushint(L, t->attempts);
    rk_set(L, RK_ATTEMPTS);
    if (t->key[0]) {
        lua_pushstring(L, t->key);
        rk_set(L, RK_KEY);
    }
    lua_pushboolean(L, t->replayed);
    rk_set(L, RK_REPLAYED);
    if (t->verified)
        cxb_set_bool(L, "verified", 1);
    lua_pushnumber(L, t->elapsed);
    rk_set(L, RK_ELAPSED);
    if (t->cancelled)
        cxb_set_bool(L, "cancelled", 1);
    if (t->invalid)
        cxb_set_bool(L, "invalid", 1);
    if (t->skipped) /* only the pre-flight GET's 404 skips in the core (attempt.c) */
        cxb_set_str(L, "skipped", "not_found");
    if (t->unchanged)
        cxb_set_bool(L, "unchanged", 1);
    if (t->before) { /* the facade decodes it into `before` */
        lua_pushlstring(L, t->before, t->before_len);
        lua_setfield(L, -2, "before_body");
    }
    if (t->unknown)
        cxb_set_bool(L, "outcome_unknown", 1);
    if (!t->ok)
        cxb_set_str(L, "error_kind", cxb_kind_name(t->kind));
    double at, latency;
    if (cxb_lua_timing(t, &at, &latency)) {
        lua_pushnumber(L, at);
        rk_set(L, RK_AT);
        lua_pushnumber(L, latency);
        rk_set(L, RK_LATENCY);
        cxb_lua_set_tries(L, t);
    }
}

/* job:take(wait_seconds, want_slot) -> array of results (upvalues: RESULT_KEYS) */
static int job_take(lua_State *L)
{
    cxb_job *j = cxb_lua_job_open(L);
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

/* A finished metadata fetch: {name, ok, status, error, error_kind, cancelled, body}. name: the
 * skill for a skill's dispositions, "" for the outcome hierarchy. */
static void push_fetched(lua_State *L, const cxb_task *t)
{
    lua_createtable(L, 0, 7);
    cxb_set_str(L, "name", t->contact_id);
    cxb_set_bool(L, "ok", t->ok);
    cxb_set_int(L, "status", t->status);
    if (!t->ok) {
        cxb_set_str(L, "error", t->error ? t->error : "failed (no detail: out of memory)");
        cxb_set_str(L, "error_kind", cxb_kind_name(t->kind));
    }
    if (t->cancelled)
        cxb_set_bool(L, "cancelled", 1);
    if (t->response) {
        lua_pushlstring(L, t->response, t->response_len);
        lua_setfield(L, -2, "body");
    }
}

/* job:fetched() -> array of the metadata fetches finished since the last call (never waits;
 * job:take() returns only task results and wakes when a fetch finished). */
static int job_fetched(lua_State *L)
{
    cxb_job *j = cxb_lua_job_open(L);
    cxb_task *buf[16];
    size_t n;
    int k = 0;
    lua_newtable(L);
    while ((n = cxb_job_take_fetched(j, buf, 16)) > 0) {
        for (size_t i = 0; i < n; i++) {
            push_fetched(L, buf[i]);
            lua_rawseti(L, -2, ++k);
            cxb_task_free(buf[i]);
        }
    }
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
    cxb_job *j = cxb_lua_job_open(L);
    cxb_event ev[64];
    lua_newtable(L);
    int k = 0;
    size_t n;
    while ((n = cxb_job_events(j, ev, 64)) > 0) {
        for (size_t i = 0; i < n; i++) {
            lua_createtable(L, 0, 7);
            cxb_set_str(L, "type", event_name(ev[i].type));
            cxb_set_num(L, "at", floor(ev[i].at * 1e3 + 0.5) / 1e3);
            if (ev[i].index) {
                cxb_set_int(L, "index", (long)ev[i].index);
                cxb_set_str(L, "contact_id", ev[i].contact_id);
            }
            if (ev[i].attempt)
                cxb_set_int(L, "attempt", ev[i].attempt);
            if (ev[i].status)
                cxb_set_int(L, "status", ev[i].status);
            if (ev[i].delay > 0)
                cxb_set_num(L, "delay", ev[i].delay);
            if (ev[i].error[0])
                cxb_set_str(L, ev[i].type == CXB_EV_RATE ? "message" : "error", ev[i].error);
            if (ev[i].type == CXB_EV_RATE) {
                cxb_set_num(L, "rate", ev[i].rate);
                cxb_set_num(L, "previous", ev[i].rate_prev);
                cxb_set_str(L, "reason", cxb_rate_reason_name(ev[i].reason));
            }
            lua_rawseti(L, -2, ++k);
        }
    }
    return 1;
}

/* job:counters() -> table, fatal message or nil, fatal kind or nil */
static int job_counters(lua_State *L)
{
    cxb_job *j = cxb_lua_job_open(L);
    cxb_counters c;
    cxb_kind kind = CXB_KIND_NONE;
    char fatal[512];
    cxb_job_counters(j, &c, &kind, fatal, sizeof fatal);
    lua_createtable(L, 0, 20);
    cxb_set_int(L, "total", c.total);
    cxb_set_int(L, "succeeded", c.succeeded);
    cxb_set_int(L, "failed", c.failed);
    cxb_set_int(L, "retried", c.retried);
    cxb_set_int(L, "requests", c.requests);
    cxb_set_int(L, "replayed", c.replayed);
    cxb_set_int(L, "invalid", c.invalid);
    cxb_set_int(L, "cancelled", c.cancelled);
    cxb_set_int(L, "skipped", c.skipped);
    cxb_set_int(L, "verified", c.verified);
    cxb_set_int(L, "http_429", c.http_429);
    cxb_set_int(L, "http_5xx", c.http_5xx);
    cxb_set_int(L, "transport_errors", c.transport_errors);
    cxb_set_int(L, "token_refreshes", c.token_refreshes);
    cxb_set_int(L, "reauths", c.reauths);
    cxb_set_int(L, "pauses", c.pauses);
    cxb_set_num(L, "pause_seconds", c.pause_seconds);
    cxb_set_int(L, "events_dropped", c.events_dropped);
    lua_newtable(L);
    for (int s = 0; s < 600; s++) {
        if (c.by_status[s]) {
            char k[12];
            snprintf(k, sizeof k, "%d", s);
            cxb_set_int(L, k, c.by_status[s]);
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
    cxb_lua_push_metrics(L, cxb_lua_job_open(L));
    return 1;
}

void cxb_lua_results_methods(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"fetched", job_fetched}, {"events", job_events}, {"counters", job_counters}, {"metrics", job_metrics},
        {NULL, NULL}};
    cxb_setfuncs(L, methods);
    for (int k = 0; k < RK_COUNT; k++)
        lua_pushstring(L, RESULT_KEYS[k]);
    lua_pushcclosure(L, job_take, RK_COUNT);
    lua_setfield(L, -2, "take");
}
