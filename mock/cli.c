#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int cli_defaults(struct mock_options *o)
{
    memset(o, 0, sizeof *o);
    o->threads = 2;
    o->max_body = 64 * 1024;
    o->contacts_n = -1;
    o->families = API_TUTORIAL | API_CXONE;
    return config_init_defaults(&o->cfg);
}

void cli_free(struct mock_options *o)
{
    free(o->contacts_file);
    free(o->outcomes_file);
    free(o->skills_file);
    o->contacts_file = o->outcomes_file = o->skills_file = NULL;
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
          "to invalidate every token issued so far), GET /_mock/stats[?mutations=0],\n"
          "POST /_mock/reset. Default credentials: demo-client / demo-secret; cxone profile\n"
          "access key: demo-access-key / demo-access-secret.\n"
          "Documentation: docs/mock.md.\n",
          f);
}

static int parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
    if (!*s || *s == '-' || *s == '+')
        return -1;
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
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

/* Start-up (non run-time) flags. Returns 1 if handled, 0 if not one, -1 on error. */
static int startup_flag(struct mock_options *o, const char *flag, const char *val, char *err, size_t errlen)
{
    unsigned long n;
    if (strcmp(flag, "--port") == 0) {
        if (parse_ulong(val, 65535, &n) != 0)
            goto bad_number;
        o->port = (unsigned)n;
    } else if (strcmp(flag, "--threads") == 0) {
        if (parse_ulong(val, 64, &n) != 0 || n == 0)
            goto bad_number;
        o->threads = (unsigned)n;
    } else if (strcmp(flag, "--contacts") == 0) {
        if (parse_ulong(val, 100000000, &n) != 0)
            goto bad_number;
        o->contacts_n = (long)n;
    } else if (strcmp(flag, "--max-body") == 0) {
        if (parse_ulong(val, 64UL * 1024 * 1024, &n) != 0 || n == 0)
            goto bad_number;
        o->max_body = n;
    } else if (strcmp(flag, "--contacts-file") == 0) {
        if (replace_str(&o->contacts_file, val) != 0)
            goto nomem;
    } else if (strcmp(flag, "--outcomes") == 0) {
        if (replace_str(&o->outcomes_file, val) != 0)
            goto nomem;
    } else if (strcmp(flag, "--api") == 0) {
        if (strcmp(val, "both") == 0)
            o->families = API_TUTORIAL | API_CXONE;
        else if (strcmp(val, "tutorial") == 0)
            o->families = API_TUTORIAL;
        else if (strcmp(val, "cxone") == 0)
            o->families = API_CXONE;
        else {
            snprintf(err, errlen, "--api needs tutorial, cxone or both, got '%.32s'", val);
            return -1;
        }
    } else if (strcmp(flag, "--skills") == 0) {
        if (replace_str(&o->skills_file, val) != 0)
            goto nomem;
    } else if (strcmp(flag, "--config") == 0) {
        return load_config_file(o, val, err, errlen) == 0 ? 1 : -1;
    } else {
        return 0;
    }
    return 1;
bad_number:
    snprintf(err, errlen, "%s needs a whole number in range, got '%.32s'", flag, val);
    return -1;
nomem:
    snprintf(err, errlen, "out of memory");
    return -1;
}

static bool startup_takes_value(const char *flag)
{
    static const char *const with_value[] = {"--port", "--threads", "--contacts", "--max-body",
                                             "--contacts-file", "--outcomes", "--skills", "--config", "--api"};
    for (size_t i = 0; i < sizeof with_value / sizeof with_value[0]; i++)
        if (strcmp(flag, with_value[i]) == 0)
            return true;
    return false;
}

int cli_parse(int argc, char **argv, struct mock_options *o, char *err, size_t errlen)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            cli_usage(stdout);
            return 1;
        }
        if (strcmp(arg, "--any-contact") == 0) {
            o->any_contact = true;
            continue;
        }
        if (strcmp(arg, "--quiet") == 0) {
            o->quiet = true;
            continue;
        }
        if (strcmp(arg, "--verbose") == 0) {
            o->verbose = true;
            continue;
        }
        /* "--flag=value" or "--flag value" */
        char flag[64];
        const char *val = NULL;
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
            if (i + 1 >= argc) {
                snprintf(err, errlen, "%s needs a value", flag);
                return -1;
            }
            val = argv[++i];
        }
        if (is_cfg) {
            json_t *obj = NULL;
            char why[256];
            if (config_flag_to_json(flag, val ? val : "", &obj, why, sizeof why) != 1) {
                snprintf(err, errlen, "%s", why);
                return -1;
            }
            int rc = config_apply_json(&o->cfg, obj, NULL, why, sizeof why);
            json_decref(obj);
            if (rc != 0) {
                snprintf(err, errlen, "%s: %s", flag, why);
                return -1;
            }
        } else if (startup_flag(o, flag, val, err, errlen) < 0) {
            return -1;
        }
    }
    return 0;
}
