/* What a job is told to do: every value filled in and checked by the caller (the Lua binding,
 * from lua/cxone/bulk/options.lua). The core keeps no defaults of its own. */
#ifndef CXB_CONFIG_H
#define CXB_CONFIG_H
#include <stddef.h>

typedef struct cxb_config {
    const char *token_url, *client_id, *client_secret, *scope;
    int basic_auth;
    int workers;
    double rate, burst;        /* rate_auto: rate is where the controller starts */
    int rate_auto;             /* rate = "auto": adaptive (docs/limiter.md) */
    double max_rate;           /* rate_auto: the ceiling */
    const char *shared_limit;  /* NULL: process-local limiter */
    double shared_limit_timeout;        /* Redis unreachable this long -> batch fails (0: 30 s) */
    const char *shared_limit_fallback;  /* NULL or "local:RATE" while Redis is unreachable */
    int max_retries;
    double backoff_base, backoff_max, timeout, connect_timeout, pause_threshold;
    const char *ca_file;
    int insecure;
    size_t queue_size;         /* tasks buffered ahead of the workers */
    int preflight;             /* GET the contact before each PUT; 404 -> skipped */
    /* api = "cxone" (docs/cxone.md): password grant, discovery, set-disposition POST, and a
     * read-back before any resend of a POST whose outcome is unknown. */
    int cxone;
    const char *access_key_id, *access_key_secret, *issuer, *tenant_id, *api_base, *api_version;
    int max_unreachable;       /* consecutive attempts with no HTTP answer -> batch fails (0: never) */
} cxb_config;
#endif
