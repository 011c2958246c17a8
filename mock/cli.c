#include "cli.h"

#define STR_(x) #x
#define STR(x) STR_(x)

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int cli_defaults(struct mock_options *o)
{
    memset(o, 0, sizeof *o);
    o->threads = 2;
    o->max_body = 64 * 1024;
    o->contacts_n = -1;
    o->families = API_TUTORIAL | API_CXONE;
    o->values.mode = IV_RANDOM;
    o->values.seed = CLI_DEFAULT_SEED;
    o->values.no_value_fraction = CLI_DEFAULT_NO_VALUE_FRACTION;
    return config_init_defaults(&o->cfg);
}

void cli_free(struct mock_options *o)
{
    free(o->contacts_file);
    free(o->outcomes_file);
    free(o->skills_file);
    free(o->values.file);
    o->contacts_file = o->outcomes_file = o->skills_file = o->values.file = NULL;
    config_free(&o->cfg);
}

void cli_usage(FILE *f)
{
    fputs("Usage: cxone-mock [OPTIONS]\n"
          "\n"
          "A local server that behaves like the NICE CXone Contact API (OAuth2 client\n"
          "credentials, PUT/GET /api/v2/contacts/{id}, GET /api/v2/contact/outcomes,\n"
          "Idempotency-Key, tenant rate limit) and, on the same port, like the real\n"
          "CXone platform (the cxone profile: OpenID and tenant discovery, POST /auth/token\n"
          "password grant, /incontactapi/services/vNN.0/ set-disposition, disposition and\n"
          "skill dispositions) with injectable faults, for dry runs, tests and benchmarks.\n"
          "Listens on 127.0.0.1 only and prints the bound port\n"
          "alone on the first line of stdout. SIGTERM or SIGINT stop it cleanly.\n"
          "\n"
          "Server:\n"
          "  --port N                           TCP port on 127.0.0.1 (0 = any free port; default 0)\n"
          "  --threads N                        worker threads (default 2)\n"
          "  --api tutorial|cxone|both          which API profile(s) to serve (default both)\n"
          "  --contacts N                       known ids contact-000001 .. (default 1000)\n"
          "  --contacts-file FILE               known ids, one per line (adds to --contacts)\n"
          "  --any-contact                      every contact id exists\n"
          "  --outcomes FILE                    outcome hierarchy JSON (default: built in)\n"
          "  --skills FILE                      cxone profile: skills and their dispositions JSON\n"
          "                                     (default: built in, skills 1001 and 1002)\n"
          "  --initial-values random|none       what a contact holds before it is written: a seeded\n"
          "                                     random outcome and disposition, or nothing (random)\n"
          "  --seed N                           seed of those random values (default " STR(CLI_DEFAULT_SEED) ")\n"
          "  --no-value-fraction P              fraction of contacts that start with no value\n"
          "                                     (default " STR(CLI_DEFAULT_NO_VALUE_FRACTION) ")\n"
          "  --values-file FILE                 initial values of the contacts it names, JSON {\"<id>\":\n"
          "                                     {\"category\",\"subcategory\",\"skill\",\"dispositionId\","
          "\"notes\"} | null}\n"
          "  --history                          keep each contact's values (GET /_mock/stats?history=1)\n"
          "  --config FILE                      JSON object with the run-time keys below\n"
          "  --max-body BYTES                   largest request body (default 65536)\n"
          "  --quiet                            no start/stop lines or errors from the HTTP layer on stderr\n"
          "  --verbose                          log every request to stderr\n"
          "  --help                             this text\n"
          "\n"
          "Run-time settings (also keys of --config and POST /_mock/config, with '_'):\n",
          f);
    config_print_flag_help(f);
    fputs("\n"
          "Admin endpoints: GET|POST /_mock/config (the keys above, plus \"revoke_tokens\": true\n"
          "to invalidate every token issued so far),\n"
          "GET /_mock/stats[?mutations=0][&window_ms=W][&history=1],\n"
          "POST /_mock/reset. Default credentials: demo-client / demo-secret; cxone profile\n"
          "access key: demo-access-key / demo-access-secret.\n"
          "Documentation: docs/mock.md.\n",
          f);
}

static int parse_ulong(const char *s, unsigned long long max, unsigned long long *out)
{
    if (!*s || *s == '-' || *s == '+')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || errno || v > max)
        return -1;
    *out = v;
    return 0;
}

static int replace_str(char **dst, const char *v)
{
    char *c = strdup(v);
    if (!c)
        return -1;
    free(*dst);
    *dst = c;
    return 0;
}

static int load_config_file(struct mock_options *o, const char *path, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *obj = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!obj) {
        if (jerr.line > 0)
            snprintf(err, errlen, "--config %s: line %d: %s", path, jerr.line, jerr.text);
        else
            snprintf(err, errlen, "--config %s: %s", path, jerr.text);
        return -1;
    }
    char why[256];
    int rc = config_apply_json(&o->cfg, obj, NULL, why, sizeof why);
    json_decref(obj);
    if (rc != 0)
        snprintf(err, errlen, "--config %s: %s", path, why);
    return rc;
}

/* Start-up flags that take a whole number. 1 if handled, 0 if not one, -1 on error. */
static int number_flag(struct mock_options *o, const char *flag, const char *val, char *err, size_t errlen)
{
    static const struct {
        const char *flag;
        unsigned long long min, max;
    } ranges[] = {
        {"--port", 0, 65535}, {"--threads", 1, 64}, {"--contacts", 0, 100000000},
        {"--max-body", 1, 64ULL * 1024 * 1024}, {"--seed", 0, UINT64_MAX},
    };
    size_t i = 0;
    while (i < sizeof ranges / sizeof ranges[0] && strcmp(flag, ranges[i].flag) != 0)
        i++;
    if (i == sizeof ranges / sizeof ranges[0])
        return 0;
    unsigned long long n;
    if (parse_ulong(val, ranges[i].max, &n) != 0 || n < ranges[i].min) {
        snprintf(err, errlen, "%s needs a whole number from %llu to %llu, got '%.32s'", flag, ranges[i].min,
                 ranges[i].max, val);
        return -1;
    }
    if (i == 0)
        o->port = (unsigned)n;
    else if (i == 1)
        o->threads = (unsigned)n;
    else if (i == 2)
        o->contacts_n = (long)n;
    else if (i == 3)
        o->max_body = (size_t)n;
    else
        o->values.seed = (uint64_t)n;
    return 1;
}

/* --api, --initial-values and --no-value-fraction. 1 if handled, 0 if not one, -1 on error. */
static int choice_flag(struct mock_options *o, const char *flag, const char *val, char *err, size_t errlen)
{
    if (strcmp(flag, "--api") == 0) {
        unsigned f = strcmp(val, "both") == 0       ? (API_TUTORIAL | API_CXONE)
                     : strcmp(val, "tutorial") == 0 ? API_TUTORIAL
                     : strcmp(val, "cxone") == 0    ? API_CXONE
                                                    : 0;
        if (!f)
            snprintf(err, errlen, "--api needs tutorial, cxone or both, got '%.32s'", val);
        o->families = f ? f : o->families;
        return f ? 1 : -1;
    }
    if (strcmp(flag, "--initial-values") == 0) {
        bool random = strcmp(val, "random") == 0, none = strcmp(val, "none") == 0;
        if (!random && !none)
            snprintf(err, errlen, "--initial-values needs random or none, got '%.32s'", val);
        o->values.mode = none ? IV_NONE : IV_RANDOM;
        return random || none ? 1 : -1;
    }
    if (strcmp(flag, "--no-value-fraction") == 0) {
        char *end;
        errno = 0;
        double p = *val ? strtod(val, &end) : -1;
        if (!*val || *end || errno || !(p >= 0 && p <= 1)) {
            snprintf(err, errlen, "--no-value-fraction needs a number from 0 to 1, got '%.32s'", val);
            return -1;
        }
        o->values.no_value_fraction = p;
        return 1;
    }
    return 0;
}

/* Start-up flags that name a file. 1 if handled, 0 if not one, -1 on error. */
static int file_flag(struct mock_options *o, const char *flag, const char *val, char *err, size_t errlen)
{
    char **dst = strcmp(flag, "--contacts-file") == 0 ? &o->contacts_file
                 : strcmp(flag, "--outcomes") == 0    ? &o->outcomes_file
                 : strcmp(flag, "--skills") == 0      ? &o->skills_file
                 : strcmp(flag, "--values-file") == 0 ? &o->values.file
                                                      : NULL;
    if (strcmp(flag, "--config") == 0)
        return load_config_file(o, val, err, errlen) == 0 ? 1 : -1;
    if (!dst)
        return 0;
    if (replace_str(dst, val) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 1;
}

/* Start-up (non run-time) flags with a value. 1 if handled, 0 if not one, -1 on error. */
static int startup_flag(struct mock_options *o, const char *flag, const char *val, char *err, size_t errlen)
{
    int rc = number_flag(o, flag, val, err, errlen);
    if (rc == 0)
        rc = choice_flag(o, flag, val, err, errlen);
    if (rc == 0)
        rc = file_flag(o, flag, val, err, errlen);
    return rc;
}

static bool startup_takes_value(const char *flag)
{
    static const char *const with_value[] = {
        "--port", "--threads", "--contacts", "--max-body", "--contacts-file", "--outcomes", "--skills", "--config",
        "--api", "--seed", "--no-value-fraction", "--values-file", "--initial-values",
    };
    for (size_t i = 0; i < sizeof with_value / sizeof with_value[0]; i++)
        if (strcmp(flag, with_value[i]) == 0)
            return true;
    return false;
}

/* The field of a flag without a value that is not a run-time setting, or NULL. */
static bool *switch_field(struct mock_options *o, const char *flag)
{
    return strcmp(flag, "--any-contact") == 0 ? &o->any_contact
           : strcmp(flag, "--quiet") == 0     ? &o->quiet
           : strcmp(flag, "--verbose") == 0   ? &o->verbose
           : strcmp(flag, "--history") == 0   ? &o->history
                                              : NULL;
}

/* A run-time setting given as a flag: applied to o->cfg in command-line order. */
static int config_flag(struct mock_options *o, const char *flag, const char *val, char *err, size_t errlen)
{
    json_t *obj = NULL;
    char why[256];
    if (config_flag_to_json(flag, val ? val : "", &obj, why, sizeof why) != 1) {
        snprintf(err, errlen, "%s", why);
        return -1;
    }
    int rc = config_apply_json(&o->cfg, obj, NULL, why, sizeof why);
    json_decref(obj);
    if (rc != 0)
        snprintf(err, errlen, "%s: %s", flag, why);
    return rc;
}

/* One "--flag=value" or "--flag value" argument (consuming argv[*i + 1] for the latter). */
static int one_flag(struct mock_options *o, int argc, char **argv, int *i, char *err, size_t errlen)
{
    const char *arg = argv[*i], *val = NULL;
    char flag[64];
    const char *eq = strchr(arg, '=');
    size_t fl = eq ? (size_t)(eq - arg) : strlen(arg);
    if (fl >= sizeof flag || strncmp(arg, "--", 2) != 0) {
        snprintf(err, errlen, "unknown option '%.64s'", arg);
        return -1;
    }
    memcpy(flag, arg, fl);
    flag[fl] = '\0';
    bool cfg_takes = false;
    bool is_cfg = config_flag_lookup(flag, &cfg_takes) == 1;
    bool takes = is_cfg ? cfg_takes : startup_takes_value(flag);
    if (!is_cfg && !takes) {
        if (switch_field(o, flag))
            snprintf(err, errlen, "%s takes no value", flag);
        else
            snprintf(err, errlen, "unknown option '%s'", flag);
        return -1;
    }
    if (eq) {
        val = eq + 1;
        if (!takes && strcmp(val, "true") != 0) {
            snprintf(err, errlen, "%s takes no value", flag);
            return -1;
        }
    } else if (takes) {
        if (*i + 1 >= argc) {
            snprintf(err, errlen, "%s needs a value", flag);
            return -1;
        }
        val = argv[++*i];
    }
    if (is_cfg)
        return config_flag(o, flag, val, err, errlen);
    return startup_flag(o, flag, val, err, errlen) < 0 ? -1 : 0;
}

int cli_parse(int argc, char **argv, struct mock_options *o, char *err, size_t errlen)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            cli_usage(stdout);
            return 1;
        }
        bool *on = switch_field(o, arg);
        if (on) {
            *on = true;
            continue;
        }
        if (one_flag(o, argc, argv, &i, err, errlen) != 0)
            return -1;
    }
    return 0;
}
