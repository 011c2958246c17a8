/* Run-time settings of the mock (faults, limits, credentials). The same key names are
 * used by --config FILE.json, POST /_mock/config and (with dashes) the command-line
 * flags, all driven by one table in config.c so they cannot drift apart. */
#ifndef CXONE_MOCK_CONFIG_H
#define CXONE_MOCK_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define MAX_ERROR_STATUSES 16

struct mock_config {
    double error_rate;            /* fraction of /api/ requests answered with an injected error */
    int error_statuses[MAX_ERROR_STATUSES];
    size_t n_error_statuses;
    double latency_ms;            /* integer milliseconds added before every /api/ answer */
    double latency_jitter_ms;     /* plus uniform 0..jitter */
    double drop_after_mutate;     /* fraction of mutating PUTs whose connection is dropped */
    double late_after_mutate;     /* fraction of mutating PUTs answered late_seconds late */
    double late_seconds;
    double once_429_retry_after;  /* one-off: next /api/ request gets 429 with this Retry-After */
    double rate;                  /* tenant token bucket, requests/s; 0 = unlimited */
    double burst;
    double expires_in;            /* access token lifetime, seconds */
    char *scope;                  /* scope granted to new tokens */
    char *client_id;
    char *client_secret;
    bool retry_after_date;        /* Retry-After as HTTP-date instead of delta-seconds */
    double retention;             /* idempotency record lifetime, seconds */
    double token_error_rate;      /* fraction of token requests answered 503 */
    /* The cxone profile (POST /auth/token, discovery, set-disposition). */
    char *access_key_id;          /* accepted access key id (password grant username) */
    char *access_key_secret;      /* accepted access key secret (password grant password) */
    char *tenant_id;              /* tenantId claim and the known tenant of discovery */
    char *area;                   /* area of the cxone-configuration document */
    bool deny_set_disposition;    /* the API user's role lacks the permission: 403 */
    double error_after_mutate;    /* fraction of set-dispositions applied, then answered 500 */
    double discovery_error_rate;  /* fraction of discovery requests answered 503 */
};

/* Defaults; strings are heap copies. 0 or -1 on allocation failure. */
int config_init_defaults(struct mock_config *c);
int config_copy(struct mock_config *dst, const struct mock_config *src);
void config_free(struct mock_config *c);

/* Validates every key of obj (a JSON object) and applies them all, or none on error.
 * *revoke is set when the object asks for "revoke_tokens": true.
 * Returns 0, or -1 with a message naming the offending key in err. */
int config_apply_json(struct mock_config *c, const json_t *obj, bool *revoke, char *err, size_t errlen);

/* The whole configuration as a JSON object (client_secret is write-only and omitted). */
json_t *config_to_json(const struct mock_config *c);

/* Command-line support: turns "--error-rate" + its value into {"error_rate": 0.3}.
 * *takes_value tells whether the flag consumes an argument. Returns 1 when flag is a
 * config flag (and *out is set), 0 when it is not one, -1 with err on a bad value. */
int config_flag_lookup(const char *flag, bool *takes_value);
int config_flag_to_json(const char *flag, const char *value, json_t **out, char *err, size_t errlen);

/* Writes the config flags' help lines to f. */
void config_print_flag_help(FILE *f);

#endif
