/* core.new_job's option table as a C config (lua_config.h). */
#include "binding/lua_config.h"
#include "binding/compat.h"
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* An option's range lives once, in lua/cxone/bulk/options.lua, and the facade checks it before
 * any value gets here (spec/option_ranges_spec.lua holds the two sides together). What this file
 * asserts is only what the C side needs of a number, whatever the option says:
 *   - finite: no option means NaN or an infinity, and NaN fails every comparison;
 *   - counts (workers, max_retries, max_unreachable, queue_size) are integers in [0, INT_MAX], so
 *     the cast to int (or size_t, with queue_size + workers still in a 32-bit size_t) is defined;
 *     workers and queue_size are >= 1 (a pool needs a thread and a ring needs a slot);
 *   - timeouts are > 0 (0 is libcurl's "no timeout"), other durations >= 0; their conversions
 *     clamp (http.c, backoff.c), so no upper bound is needed;
 *   - rate and max_rate are > 0 and burst >= 1; the limiter checks the rest (a slot interval in
 *     whole nanoseconds, burst within reach of the rate: limiter.c cxb_rate_params). */
typedef enum cfg_domain {
    CFG_COUNT,    /* an integer in [0, INT_MAX] */
    CFG_COUNT_1,  /* an integer in [1, INT_MAX] */
    CFG_POSITIVE, /* a finite number > 0 */
    CFG_NONNEG,   /* a finite number >= 0 */
    CFG_AT_LEAST_1 /* a finite number >= 1 */
} cfg_domain;

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

static int cfg_in_domain(double v, cfg_domain d)
{
    switch (d) {
    case CFG_COUNT: return v >= 0 && v <= INT_MAX && v == floor(v);
    case CFG_COUNT_1: return v >= 1 && v <= INT_MAX && v == floor(v);
    case CFG_POSITIVE: return v > 0 && isfinite(v);
    case CFG_NONNEG: return v >= 0 && isfinite(v);
    case CFG_AT_LEAST_1: return v >= 1 && isfinite(v);
    }
    return 0;
}

static const char *const cfg_domain_words[] = {
    [CFG_COUNT] = "an integer >= 0 and <= 2147483647", [CFG_COUNT_1] = "an integer >= 1 and <= 2147483647",
    [CFG_POSITIVE] = "a finite number > 0", [CFG_NONNEG] = "a finite number >= 0",
    [CFG_AT_LEAST_1] = "a finite number >= 1"};

/* A required number option the C side can hold (cfg_domain); raises naming it otherwise. */
static double cfg_num(lua_State *L, int t, const char *name, cfg_domain d)
{
    double v = cfg_number(L, t, name, 1, 0);
    if (!cfg_in_domain(v, d)) {
        char msg[200]; /* lua_pushfstring knows no %g */
        snprintf(msg, sizeof msg, "option '%s' must be %s (got %.17g)", name, cfg_domain_words[d], v);
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

const char *cxb_lua_config_lstring(lua_State *L, int t, const char *name, size_t *len)
{
    lua_getfield(L, t, name);
    if (lua_type(L, -1) != LUA_TSTRING)
        cfg_missing(L, name);
    const char *v = lua_tolstring(L, -1, len);
    lua_pop(L, 1);
    return v;
}

void cxb_lua_read_config(lua_State *L, int t, cxb_config *c)
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
    c->max_unreachable = (int)cfg_num(L, t, "max_unreachable", CFG_COUNT);
    c->scope = cfg_string(L, t, "scope", 1);
    c->basic_auth = cfg_bool(L, t, "basic_auth");
    c->workers = (int)cfg_num(L, t, "workers", CFG_COUNT_1);
    c->rate = cfg_num(L, t, "rate", CFG_POSITIVE);
    c->rate_auto = cfg_bool(L, t, "rate_auto");
    c->max_rate = c->rate_auto ? cfg_num(L, t, "max_rate", CFG_POSITIVE) : c->rate;
    c->burst = cfg_num(L, t, "burst", CFG_AT_LEAST_1);
    c->shared_limit = cfg_string(L, t, "shared_limit", 0);
    c->max_retries = (int)cfg_num(L, t, "max_retries", CFG_COUNT);
    c->backoff_base = cfg_num(L, t, "backoff_base", CFG_NONNEG);
    c->backoff_max = cfg_num(L, t, "backoff_max", CFG_NONNEG);
    c->timeout = cfg_num(L, t, "timeout", CFG_POSITIVE);
    c->connect_timeout = cfg_num(L, t, "connect_timeout", CFG_POSITIVE);
    c->pause_threshold = cfg_num(L, t, "pause_threshold", CFG_NONNEG);
    c->shared_limit_timeout = cfg_num(L, t, "shared_limit_timeout", CFG_POSITIVE);
    c->shared_limit_fallback = cfg_string(L, t, "shared_limit_fallback", 0);
    c->ca_file = cfg_string(L, t, "ca_file", 0);
    c->insecure = cfg_bool(L, t, "insecure");
    c->queue_size = (size_t)cfg_num(L, t, "queue_size", CFG_COUNT_1);
    c->preflight = cfg_bool(L, t, "preflight");
}
