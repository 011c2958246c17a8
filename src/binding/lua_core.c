/* cxone.bulk.core: the Lua binding of the worker pool, opened here. The job userdata and its life
 * cycle are lua_job.c (its config read by lua_config.c), tasks go in through lua_intake.c, results,
 * events and counters come out through lua_results.c (metrics: lua_metrics.c), the live rate is
 * lua_rate.c, the OS helpers lua_sys.c. This file adds the module's own functions. */
#define _GNU_SOURCE /* dladdr, RTLD_NODELETE */
#include "binding/compat.h"
#include "binding/lua_intake.h"
#include "binding/lua_job.h"
#include "binding/lua_rate.h"
#include "binding/lua_results.h"
#include "binding/lua_sys.h"
#include "profile/idempotency.h"
#include <curl/curl.h>
#include <dlfcn.h>
#include <stdlib.h>

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
    static const luaL_Reg core_funcs[] = {
        {"new_job", cxb_lua_new_job}, {"derive_key", core_derive_key},
        {"request", cxb_lua_request}, {"plain_request", cxb_lua_plain_request}, {NULL, NULL}};

    if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK) /* once, before any worker exists */
        return luaL_error(L, "curl_global_init failed");
    core_pin_module();
    if (luaL_newmetatable(L, CXB_LUA_JOB_MT)) {
        lua_newtable(L); /* the methods, each file adding its own */
        cxb_lua_job_methods(L);
        cxb_lua_intake_methods(L);
        cxb_lua_results_methods(L);
        cxb_lua_rate_methods(L);
        lua_setfield(L, -2, "__index");
        cxb_lua_job_meta(L);
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
