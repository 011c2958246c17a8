#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

enum key_kind {
    KK_FRACTION, /* number in [0, 1] */
    KK_INT,      /* integral number in [min, max] */
    KK_NUMBER,   /* number in [min, max] */
    KK_STRING,   /* string, length in [min, max] bytes, no control characters */
    KK_BOOL,
    KK_STATUSES, /* array of 1..MAX_ERROR_STATUSES HTTP status codes */
    KK_ACTION,   /* boolean that triggers an action and is not stored */
};

struct key_spec {
    const char *key;
    enum key_kind kind;
    size_t off;
    double min, max;
    const char *arg;  /* placeholder in --help; NULL for flags without a value */
    const char *help;
};

#define OFF(field) offsetof(struct mock_config, field)

static const struct key_spec KEYS[] = {
    {"error_rate", KK_FRACTION, OFF(error_rate), 0, 1, "P",
     "fraction of /api/ requests answered with an injected error (0)"},
    {"error_statuses", KK_STATUSES, OFF(error_statuses), 100, 599, "S,S",
     "statuses drawn for injected errors (500,502,503)"},
    {"latency_ms", KK_INT, OFF(latency_ms), 0, 600000, "MS", "fixed delay before every /api/ answer (0)"},
    {"latency_jitter_ms", KK_INT, OFF(latency_jitter_ms), 0, 600000, "MS",
     "extra uniform random delay 0..MS (0)"},
    {"drop_after_mutate", KK_FRACTION, OFF(drop_after_mutate), 0, 1, "P",
     "fraction of mutating PUTs applied, then dropped unanswered (0)"},
    {"late_after_mutate", KK_FRACTION, OFF(late_after_mutate), 0, 1, "P",
     "fraction of mutating PUTs applied, then answered late (0)"},
    {"late_seconds", KK_NUMBER, OFF(late_seconds), 0, 3600, "S", "how late those answers come (3)"},
    {"once_429_retry_after", KK_INT, OFF(once_429_retry_after), 0, 86400, "S",
     "the next /api/ request gets 429 with Retry-After S, once (0 = off)"},
    {"revoke_tokens", KK_ACTION, 0, 0, 0, NULL, NULL},
    {"rate", KK_NUMBER, OFF(rate), 0, 1e9, "R", "tenant limit in requests/s over /api/ (50; 0 = off)"},
    {"burst", KK_NUMBER, OFF(burst), 1, 1e9, "B", "token bucket size (50)"},
    {"expires_in", KK_INT, OFF(expires_in), 0, 315360000, "S", "access token lifetime (3600)"},
    {"scope", KK_STRING, OFF(scope), 0, 1024, "\"S S\"",
     "scope granted to tokens (\"contact:read contact:update\")"},
    {"client_id", KK_STRING, OFF(client_id), 1, 256, "ID", "accepted client id (demo-client)"},
    {"client_secret", KK_STRING, OFF(client_secret), 1, 256, "SECRET",
     "accepted client secret (demo-secret)"},
    {"retry_after_date", KK_BOOL, OFF(retry_after_date), 0, 0, NULL,
     "send Retry-After as an HTTP-date instead of seconds"},
    {"retention", KK_NUMBER, OFF(retention), 0, 31536000, "S",
     "how long idempotency records are kept (86400)"},
    {"token_error_rate", KK_FRACTION, OFF(token_error_rate), 0, 1, "P",
     "fraction of token requests answered 503 (0)"},
    {"access_key_id", KK_STRING, OFF(access_key_id), 1, 256, "ID",
     "cxone profile: accepted access key id, the password grant's username (demo-access-key)"},
    {"access_key_secret", KK_STRING, OFF(access_key_secret), 1, 256, "SECRET",
     "cxone profile: accepted access key secret, the password (demo-access-secret)"},
    {"tenant_id", KK_STRING, OFF(tenant_id), 1, 128, "ID",
     "cxone profile: the tenant (11ee0000-0000-4000-8000-000000000001)"},
    {"area", KK_STRING, OFF(area), 1, 64, "AREA", "cxone profile: the tenant's area (na1)"},
    {"error_after_mutate", KK_FRACTION, OFF(error_after_mutate), 0, 1, "P",
     "cxone profile: fraction of set-dispositions applied, then answered 500 (0)"},
    {"deny_set_disposition", KK_BOOL, OFF(deny_set_disposition), 0, 0, NULL,
     "cxone profile: the API user's role lacks the permission to set dispositions (403)"},
    {"discovery_error_rate", KK_FRACTION, OFF(discovery_error_rate), 0, 1, "P",
     "cxone profile: fraction of discovery requests (/.well-known/*) answered 503 (0)"},
};
#define N_KEYS (sizeof KEYS / sizeof KEYS[0])

static const struct key_spec *find_key(const char *key)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (strcmp(KEYS[i].key, key) == 0)
            return &KEYS[i];
    return NULL;
}

static double *num_field(struct mock_config *c, const struct key_spec *k)
{
    return (double *)(void *)((char *)c + k->off);
}

static char **str_field(struct mock_config *c, const struct key_spec *k)
{
    return (char **)(void *)((char *)c + k->off);
}

static bool *bool_field(struct mock_config *c, const struct key_spec *k)
{
    return (bool *)(void *)((char *)c + k->off);
}

int config_init_defaults(struct mock_config *c)
{
    memset(c, 0, sizeof *c);
    c->error_statuses[0] = 500;
    c->error_statuses[1] = 502;
    c->error_statuses[2] = 503;
    c->n_error_statuses = 3;
    c->late_seconds = 3;
    c->rate = 50;
    c->burst = 50;
    c->expires_in = 3600;
    c->retention = 86400;
    c->scope = strdup("contact:read contact:update");
    c->client_id = strdup("demo-client");
    c->client_secret = strdup("demo-secret");
    c->access_key_id = strdup("demo-access-key");
    c->access_key_secret = strdup("demo-access-secret");
    c->tenant_id = strdup("11ee0000-0000-4000-8000-000000000001");
    c->area = strdup("na1");
    if (!c->scope || !c->client_id || !c->client_secret || !c->access_key_id || !c->access_key_secret ||
        !c->tenant_id || !c->area) {
        config_free(c);
        return -1;
    }
    return 0;
}

int config_copy(struct mock_config *dst, const struct mock_config *src)
{
    *dst = *src;
    dst->scope = strdup(src->scope);
    dst->client_id = strdup(src->client_id);
    dst->client_secret = strdup(src->client_secret);
    dst->access_key_id = strdup(src->access_key_id);
    dst->access_key_secret = strdup(src->access_key_secret);
    dst->tenant_id = strdup(src->tenant_id);
    dst->area = strdup(src->area);
    if (!dst->scope || !dst->client_id || !dst->client_secret || !dst->access_key_id || !dst->access_key_secret ||
        !dst->tenant_id || !dst->area) {
        config_free(dst);
        return -1;
    }
    return 0;
}

void config_free(struct mock_config *c)
{
    free(c->scope);
    free(c->client_id);
    free(c->client_secret);
    free(c->access_key_id);
    if (c->access_key_secret)
        explicit_bzero(c->access_key_secret, strlen(c->access_key_secret));
    free(c->access_key_secret);
    free(c->tenant_id);
    free(c->area);
    c->scope = c->client_id = c->client_secret = NULL;
    c->access_key_id = c->access_key_secret = c->tenant_id = c->area = NULL;
}

static int fail(char *err, size_t errlen, const char *fmt, const char *key, double a, double b)
{
    snprintf(err, errlen, fmt, key, a, b);
    return -1;
}

static int apply_string(struct mock_config *c, const struct key_spec *k, const json_t *v, char *err, size_t errlen)
{
    if (!json_is_string(v))
        return fail(err, errlen, "%s must be a string", k->key, 0, 0);
    size_t len = json_string_length(v);
    const char *s = json_string_value(v);
    if ((double)len < k->min || (double)len > k->max)
        return fail(err, errlen, "%s must be %g to %g bytes long", k->key, k->min, k->max);
    if (has_control_chars(s, len))
        return fail(err, errlen, "%s must not contain control characters", k->key, 0, 0);
    char *copy = strdup(s);
    if (!copy)
        return fail(err, errlen, "%s: out of memory", k->key, 0, 0);
    char **field = str_field(c, k);
    free(*field);
    *field = copy;
    return 0;
}

static int apply_statuses(struct mock_config *c, const struct key_spec *k, const json_t *v, char *err, size_t errlen)
{
    size_t n = json_is_array(v) ? json_array_size(v) : 0;
    if (n == 0 || n > MAX_ERROR_STATUSES)
        return fail(err, errlen, "%s must be an array of 1 to %g HTTP status codes", k->key, MAX_ERROR_STATUSES, 0);
    int tmp[MAX_ERROR_STATUSES];
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(v, i);
        if (!json_is_integer(e) || json_integer_value(e) < 100 || json_integer_value(e) > 599)
            return fail(err, errlen, "%s must hold integers between %g and %g", k->key, k->min, k->max);
        tmp[i] = (int)json_integer_value(e);
    }
    memcpy(c->error_statuses, tmp, n * sizeof tmp[0]);
    c->n_error_statuses = n;
    return 0;
}

/* Validates one value and stores it into c (strings are replaced by fresh copies). */
static int apply_one(struct mock_config *c, const struct key_spec *k, const json_t *v, bool *revoke,
                     char *err, size_t errlen)
{
    switch (k->kind) {
    case KK_FRACTION:
    case KK_NUMBER:
    case KK_INT: {
        double d = json_is_number(v) ? json_number_value(v) : NAN;
        if (!isfinite(d) || d < k->min || d > k->max)
            return fail(err, errlen, "%s must be a number between %g and %g", k->key, k->min, k->max);
        if (k->kind == KK_INT && floor(d) != d)
            return fail(err, errlen, "%s must be an integer between %g and %g", k->key, k->min, k->max);
        *num_field(c, k) = d;
        return 0;
    }
    case KK_STRING:
        return apply_string(c, k, v, err, errlen);
    case KK_BOOL:
    case KK_ACTION:
        if (!json_is_boolean(v))
            return fail(err, errlen, "%s must be true or false", k->key, 0, 0);
        if (k->kind == KK_BOOL)
            *bool_field(c, k) = json_is_true(v);
        else if (revoke)
            *revoke = *revoke || json_is_true(v);
        return 0;
    case KK_STATUSES:
        return apply_statuses(c, k, v, err, errlen);
    }
    return fail(err, errlen, "%s: unsupported key kind", k->key, 0, 0);
}

int config_apply_json(struct mock_config *c, const json_t *obj, bool *revoke, char *err, size_t errlen)
{
    if (!json_is_object(obj)) {
        snprintf(err, errlen, "config must be a JSON object");
        return -1;
    }
    /* Apply to a scratch copy so a bad key leaves the live config untouched. */
    struct mock_config tmp;
    if (config_copy(&tmp, c) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    bool want_revoke = false;
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        const struct key_spec *k = find_key(key);
        if (!k) {
            snprintf(err, errlen, "unknown config key '%.64s'", key);
            config_free(&tmp);
            return -1;
        }
        if (apply_one(&tmp, k, v, &want_revoke, err, errlen) != 0) {
            config_free(&tmp);
            return -1;
        }
    }
    config_free(c);
    *c = tmp;
    if (revoke)
        *revoke = want_revoke;
    return 0;
}

json_t *config_to_json(const struct mock_config *c)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    int bad = 0;
    for (size_t i = 0; i < N_KEYS; i++) {
        const struct key_spec *k = &KEYS[i];
        struct mock_config *mc = (struct mock_config *)c;
        json_t *v = NULL;
        if ((k->off == OFF(client_secret) || k->off == OFF(access_key_secret)) && k->kind == KK_STRING)
            continue; /* secrets are never echoed */
        switch (k->kind) {
        case KK_INT:
            v = json_integer((json_int_t)*num_field(mc, k));
            break;
        case KK_FRACTION:
        case KK_NUMBER:
            v = json_real(*num_field(mc, k));
            break;
        case KK_STRING:
            v = json_string(*str_field(mc, k));
            break;
        case KK_BOOL:
            v = json_boolean(*bool_field(mc, k));
            break;
        case KK_ACTION:
            continue;
        case KK_STATUSES:
            v = json_array();
            for (size_t j = 0; v && j < c->n_error_statuses; j++)
                bad |= json_array_append_new(v, json_integer(c->error_statuses[j]));
            break;
        }
        bad |= json_object_set_new(o, k->key, v);
    }
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* "--error-rate" -> key spec of "error_rate" (actions are not flags). */
static const struct key_spec *flag_key(const char *flag)
{
    if (strncmp(flag, "--", 2) != 0)
        return NULL;
    flag += 2;
    for (size_t i = 0; i < N_KEYS; i++) {
        const char *k = KEYS[i].key;
        size_t j = 0;
        for (; k[j] && flag[j]; j++)
            if (flag[j] != (k[j] == '_' ? '-' : k[j]))
                break;
        if (!k[j] && !flag[j] && KEYS[i].kind != KK_ACTION)
            return &KEYS[i];
    }
    return NULL;
}

int config_flag_lookup(const char *flag, bool *takes_value)
{
    const struct key_spec *k = flag_key(flag);
    if (!k)
        return 0;
    *takes_value = k->kind != KK_BOOL;
    return 1;
}

static int parse_double(const char *s, double *out)
{
    if (!*s)
        return -1;
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (*end || errno == ERANGE || !isfinite(d))
        return -1;
    *out = d;
    return 0;
}

/* "500,503" -> [500, 503]. NULL with err set when malformed (or out of memory). */
static json_t *statuses_json(const char *flag, const char *value, char *err, size_t errlen)
{
    json_t *v = json_array();
    const char *p = value;
    while (v && *p) {
        char *end;
        errno = 0;
        long n = strtol(p, &end, 10);
        if (end == p || errno || (*end && *end != ',')) {
            json_decref(v);
            snprintf(err, errlen, "%s needs comma-separated status codes, e.g. 500,503", flag);
            return NULL;
        }
        if (json_array_append_new(v, json_integer(n)) != 0) {
            json_decref(v);
            v = NULL;
        }
        p = *end ? end + 1 : end;
    }
    if (!v)
        snprintf(err, errlen, "out of memory");
    return v;
}

/* The flag's value as the JSON value of its key. NULL with err set when malformed. */
static json_t *flag_value(const struct key_spec *k, const char *flag, const char *value, char *err, size_t errlen)
{
    double d;
    json_t *v = NULL;
    switch (k->kind) {
    case KK_FRACTION:
    case KK_NUMBER:
    case KK_INT:
        if (parse_double(value, &d) != 0) {
            snprintf(err, errlen, "%s needs a number", flag);
            return NULL;
        }
        v = json_real(d);
        break;
    case KK_STRING:
        if (!(v = json_string(value))) {
            snprintf(err, errlen, "%s needs valid UTF-8 text", flag);
            return NULL;
        }
        break;
    case KK_BOOL:
    case KK_ACTION:
        v = json_true();
        break;
    case KK_STATUSES:
        return statuses_json(flag, value, err, errlen);
    }
    if (!v)
        snprintf(err, errlen, "out of memory");
    return v;
}

int config_flag_to_json(const char *flag, const char *value, json_t **out, char *err, size_t errlen)
{
    const struct key_spec *k = flag_key(flag);
    if (!k || k->kind == KK_ACTION)
        return 0;
    json_t *v = flag_value(k, flag, value, err, errlen);
    if (!v)
        return -1;
    json_t *o = json_object();
    if (!o || json_object_set_new(o, k->key, v) != 0) { /* set_new takes v even when it fails */
        if (!o)
            json_decref(v);
        json_decref(o);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    *out = o;
    return 1;
}

void config_print_flag_help(FILE *f)
{
    for (size_t i = 0; i < N_KEYS; i++) {
        const struct key_spec *k = &KEYS[i];
        if (k->kind == KK_ACTION)
            continue;
        char flag[64];
        size_t j = 0;
        for (; k->key[j] && j < sizeof flag - 1; j++)
            flag[j] = k->key[j] == '_' ? '-' : k->key[j];
        flag[j] = '\0';
        char left[96];
        snprintf(left, sizeof left, "--%s%s%s", flag, k->arg ? " " : "", k->arg ? k->arg : "");
        fprintf(f, "  %-34s %s\n", left, k->help);
    }
}
