#include "binding/lua_metrics.h"
#include "binding/lua_fields.h"
#include "binding/compat.h"
#include <math.h>
#include <stdlib.h>

/* Rounds to `places` decimals: result lines stay short, and no precision the clocks lack is
 * pretended. */
static double lm_round(double v, double scale)
{
    return floor(v * scale + 0.5) / scale;
}

/* requests = {{method=, status=, count=}, ...}: the non-zero cells, status 0 for no answer. */
static void lm_push_requests(lua_State *L, const cxb_metrics *m)
{
    lua_newtable(L);
    int n = 0;
    for (int k = 0; k < CXB_METHODS; k++) {
        for (int s = 0; s < 600; s++) {
            if (!m->requests[k][s])
                continue;
            lua_createtable(L, 0, 3);
            cxb_set_str(L, "method", cxb_method_name((cxb_method)k));
            cxb_set_int(L, "status", s);
            cxb_set_int(L, "count", m->requests[k][s]);
            lua_rawseti(L, -2, ++n);
        }
    }
    lua_setfield(L, -2, "requests");
}

static void lm_push_latency(lua_State *L, const cxb_metrics *m)
{
    static const double bounds[] = {CXB_LATENCY_BOUNDS};
    lua_createtable(L, 0, 4);
    lua_createtable(L, CXB_LATENCY_BUCKETS - 1, 0);
    for (int i = 0; i < CXB_LATENCY_BUCKETS - 1; i++) {
        lua_pushnumber(L, bounds[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "bounds");
    lua_createtable(L, CXB_LATENCY_BUCKETS, 0);
    for (int i = 0; i < CXB_LATENCY_BUCKETS; i++) {
        cxb_pushint(L, m->latency[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "counts");
    cxb_set_num(L, "sum", m->latency_sum);
    cxb_set_int(L, "count", m->latency_count);
    lua_setfield(L, -2, "latency");
}

/* results = {{outcome=, kind=, count=}, ...}: kind "none" for a result that succeeded. */
static void lm_push_results(lua_State *L, const cxb_metrics *m)
{
    lua_newtable(L);
    int n = 0;
    for (int o = 0; o < CXB_OUTCOMES; o++) {
        for (int k = 0; k < CXB_KIND_COUNT; k++) {
            if (!m->results[o][k])
                continue;
            lua_createtable(L, 0, 3);
            cxb_set_str(L, "outcome", cxb_outcome_name((cxb_outcome)o));
            cxb_set_str(L, "kind", k == CXB_KIND_NONE ? "none" : cxb_kind_name((cxb_kind)k));
            cxb_set_int(L, "count", m->results[o][k]);
            lua_rawseti(L, -2, ++n);
        }
    }
    lua_setfield(L, -2, "results");
}

void cxb_lua_push_metrics(lua_State *L, cxb_job *j)
{
    cxb_metrics *m = malloc(sizeof *m); /* ~20 kB: not on the caller's stack (nginx) */
    if (!m) {
        luaL_error(L, "out of memory");
        return;
    }
    cxb_job_metrics(j, m);
    lua_createtable(L, 0, 9);
    lm_push_requests(L, m);
    lm_push_latency(L, m);
    lm_push_results(L, m);
    cxb_set_num(L, "limiter_wait_seconds", m->limiter_wait_seconds);
    cxb_set_int(L, "limiter_waits", m->limiter_waits);
    cxb_set_int(L, "queued", m->queued);
    cxb_set_int(L, "in_flight", m->in_flight);
    cxb_set_num(L, "started", lm_round(m->started, 1e3));
    free(m);
}

/* tries = {{offset, status, latency[, pause]}, ...}: one per request kept. */
static void lm_push_tries(lua_State *L, const cxb_task *t)
{
    lua_createtable(L, t->tries_n, 0);
    for (int i = 0; i < t->tries_n; i++) {
        const cxb_try *r = &t->tries[i];
        lua_createtable(L, r->pause > 0 ? 4 : 3, 0);
        lua_pushnumber(L, lm_round(r->offset, 1e3));
        lua_rawseti(L, -2, 1);
        cxb_pushint(L, r->status);
        lua_rawseti(L, -2, 2);
        lua_pushnumber(L, lm_round(r->latency, 1e4));
        lua_rawseti(L, -2, 3);
        if (r->pause > 0) {
            lua_pushnumber(L, lm_round(r->pause, 1e3));
            lua_rawseti(L, -2, 4);
        }
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "tries");
}

int cxb_lua_timing(const cxb_task *t, double *at, double *latency)
{
    if (t->first_sent_mono <= 0)
        return 0;
    *at = lm_round(t->first_sent_wall, 1e3);
    *latency = lm_round(t->last_latency, 1e4);
    return 1;
}

void cxb_lua_set_tries(lua_State *L, const cxb_task *t)
{
    /* One request without a pause is all in at, status and latency: no list. */
    if (t->first_sent_mono > 0 && (t->attempts > 1 || (t->tries_n == 1 && t->tries[0].pause > 0)))
        lm_push_tries(L, t);
}
