/* core.new_job's option table as a C config (lua_config.h). */
#include "binding/lua_config.h"
#include "binding/compat.h"
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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
