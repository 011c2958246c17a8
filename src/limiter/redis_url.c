/* Parsing a fleet limit's Redis URL (redis_url.h). The redis:// form goes through libcurl's URL
 * API; messages name the part that is wrong and never echo the URL (it may hold a password). */
#include "limiter/redis_url.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int key_ok(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n > CXB_REDIS_KEY_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = k[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == ':'))
            return 0;
    }
    return 1;
}

/* Reads key=NAME and db=N from the query (already URL-decoded pieces). */
static int parse_query(cxb_redis_target *r, char *q, char *err, size_t errlen)
{
    for (char *save = NULL, *kv = strtok_r(q, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq) continue;
        *eq = '\0';
        char *unesc = curl_easy_unescape(NULL, eq + 1, 0, NULL);
        if (!unesc) { snprintf(err, errlen, "out of memory"); return -1; }
        if (strcmp(kv, "key") == 0 && key_ok(unesc))
            snprintf(r->key, sizeof r->key, "%s%s", CXB_REDIS_KEY_PREFIX, unesc);
        else if (strcmp(kv, "key") == 0)
            snprintf(err, errlen, "shared_limit: key must be 1-%d characters of [A-Za-z0-9._:-]", CXB_REDIS_KEY_MAX);
        else if (strcmp(kv, "db") == 0)
            r->db = atoi(unesc);
        curl_free(unesc);
        if (err[0]) return -1;
    }
    if (!r->key[0]) {
        snprintf(err, errlen, "shared_limit: a Redis URL needs ?key=NAME (the bucket's name)");
        return -1;
    }
    return 0;
}

static int url_part(CURLU *u, CURLUPart part, char *out, size_t len, int decode)
{
    char *v = NULL;
    out[0] = '\0';
    if (curl_url_get(u, part, &v, decode ? CURLU_URLDECODE : 0) != CURLUE_OK || !v) return 0;
    int fits = strlen(v) < len;
    if (fits) snprintf(out, len, "%s", v);
    if (part == CURLUPART_PASSWORD) memset(v, 0, strlen(v));
    curl_free(v);
    return fits ? 1 : -1;
}

/* unix:///path/to/sock?key=NAME: libcurl 7.88 reads the first path segment of a scheme it does
 * not know as a host, so this form is split here (path, then the query) and only unescaped by
 * libcurl. */
static int parse_unix(cxb_redis_target *r, const char *url, char *q, size_t qlen, char *err, size_t errlen)
{
    const char *path = url + strlen("unix://");
    const char *qm = strchr(path, '?');
    size_t plen = qm ? (size_t)(qm - path) : strlen(path);
    char *p = curl_easy_unescape(NULL, path, (int)plen, NULL);
    if (!p) { snprintf(err, errlen, "out of memory"); return -1; }
    int bad = p[0] != '/' || strlen(p) >= sizeof r->sock || strlen(qm ? qm + 1 : "") >= qlen;
    if (!bad) {
        snprintf(r->sock, sizeof r->sock, "%s", p);
        snprintf(q, qlen, "%s", qm ? qm + 1 : "");
    }
    curl_free(p);
    if (bad) snprintf(err, errlen, "shared_limit: write a socket as unix:///path/to/redis.sock?key=NAME");
    return bad ? -1 : 0;
}

/* redis://[user:password@]host[:port][/db]?key=NAME with libcurl's URL API. */
static int parse_redis(cxb_redis_target *r, const char *url, char *q, size_t qlen, char *pw, size_t pwlen,
                       char *err, size_t errlen)
{
    CURLU *u = curl_url();
    if (!u) { snprintf(err, errlen, "out of memory"); return -1; }
    char path[256], port[16];
    int rc = -1;
    if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
        snprintf(err, errlen, "shared_limit: not a valid redis:// URL");
        goto out;
    }
    if (url_part(u, CURLUPART_HOST, r->host, sizeof r->host, 1) < 0 ||
        url_part(u, CURLUPART_USER, r->user, sizeof r->user, 1) < 0 ||
        url_part(u, CURLUPART_PASSWORD, pw, pwlen, 1) < 0 ||
        url_part(u, CURLUPART_PATH, path, sizeof path, 1) < 0 ||
        url_part(u, CURLUPART_QUERY, q, qlen, 0) < 0 ||
        url_part(u, CURLUPART_PORT, port, sizeof port, 0) < 0) {
        snprintf(err, errlen, "shared_limit: a part of the Redis URL is too long");
        goto out;
    }
    r->port = port[0] ? atoi(port) : 6379;
    if (!r->host[0]) {
        snprintf(err, errlen, "shared_limit: the redis:// URL has no host");
        goto out;
    }
    if (path[0] && strcmp(path, "/") != 0) {
        char *end;
        long db = strtol(path + 1, &end, 10);
        if (*end || end == path + 1 || db < 0 || db > 1000000) {
            snprintf(err, errlen, "shared_limit: the path of a redis:// URL is the db number (/0)");
            goto out;
        }
        r->db = (int)db;
    }
    rc = 0;
out:
    curl_url_cleanup(u);
    return rc;
}

/* Messages name the part that is wrong, never echo the URL (it may hold a password). */
int cxb_redis_target_parse(cxb_redis_target *r, const char *url, char *err, size_t errlen)
{
    char q[512], pw[256] = "";
    int rc = strncmp(url, "unix://", 7) == 0
                 ? parse_unix(r, url, q, sizeof q, err, errlen)
                 : parse_redis(r, url, q, sizeof q, pw, sizeof pw, err, errlen);
    if (rc == 0) rc = parse_query(r, q, err, errlen);
    const char *env = getenv("CXONE_REDIS_PASSWORD");
    if (rc == 0 && !pw[0] && env) snprintf(pw, sizeof pw, "%s", env);
    if (rc == 0 && pw[0] && !(r->password = strdup(pw))) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
    }
    memset(pw, 0, sizeof pw);
    return rc;
}

void cxb_redis_target_free(cxb_redis_target *r)
{
    if (r->password) {
        memset(r->password, 0, strlen(r->password));
        free(r->password);
        r->password = NULL;
    }
}
