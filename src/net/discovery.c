#include "net/discovery.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AREA_MAX 32
#define CLAIM_MAX 128

static void *fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void *fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && errlen)
        vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return NULL;
}

/* printf into a fresh buffer; NULL on allocation failure. */
static char *format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *format(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *out = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (!out)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(out, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return out;
}

/* The issuer without trailing slashes, as a length. */
static int trimmed(const char *s)
{
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '/')
        n--;
    return n > 4096 ? 4096 : (int)n;
}

char *cxb_openid_config_url(const char *issuer)
{
    return format("%.*s/.well-known/openid-configuration", trimmed(issuer), issuer);
}

char *cxb_cxone_config_url(const char *issuer, const char *tenant_id)
{
    char *t = curl_easy_escape(NULL, tenant_id, (int)strlen(tenant_id));
    char *out = t ? format("%.*s/.well-known/cxone-configuration?tenantId=%s", trimmed(issuer), issuer, t) : NULL;
    curl_free(t);
    return out;
}

char *cxb_cxone_api_url(const char *api_base, const char *version, const char *collection, const char *id,
                        const char *action)
{
    char *e = curl_easy_escape(NULL, id, (int)strlen(id));
    char *out = e ? format("%.*s/incontactapi/services/%s/%s/%s/%s", trimmed(api_base), api_base, version,
                           collection, e, action)
                  : NULL;
    curl_free(e);
    return out;
}

/* n bytes without NUL or other control characters. */
static int printable(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}

/* An absolute http(s) URL without spaces or control characters. */
static int url_ok(const char *s)
{
    if (strncmp(s, "https://", 8) != 0 && strncmp(s, "http://", 7) != 0)
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= 0x20 || *p == 0x7f)
            return 0;
    return strlen(s) > (s[4] == 's' ? 8u : 7u);
}

/* Parses a discovery document (named `what` in errors) that must be a JSON object. */
static json_t *load_object(const char *what, const char *doc, size_t len, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_loadb(doc, len, 0, &jerr);
    if (!root)
        return fail(err, errlen, "%s: not JSON (line %d: %s)", what, jerr.line, jerr.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return fail(err, errlen, "%s: expected a JSON object", what);
    }
    return root;
}

/* The URL string field `field` of root, copied, trailing '/' removed. */
static char *url_field(const char *what, json_t *root, const char *field, char *err, size_t errlen)
{
    const json_t *v = json_object_get(root, field);
    if (!json_is_string(v))
        return fail(err, errlen, "%s: \"%s\" is missing or not a string", what, field);
    const char *s = json_string_value(v);
    if (strlen(s) != json_string_length(v) || !url_ok(s))
        return fail(err, errlen, "%s: \"%s\" is not an absolute http(s) URL", what, field);
    return format("%.*s", trimmed(s), s);
}

char *cxb_discovery_token_endpoint(const char *doc, size_t len, char *err, size_t errlen)
{
    static const char what[] = "openid-configuration";
    json_t *root = load_object(what, doc, len, err, errlen);
    if (!root)
        return NULL;
    char *url = url_field(what, root, "token_endpoint", err, errlen);
    json_decref(root);
    return url;
}

static int area_ok(const char *a)
{
    size_t n = strlen(a);
    if (n == 0 || n > AREA_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((a[i] >= 'a' && a[i] <= 'z') || (a[i] >= 'A' && a[i] <= 'Z') || (a[i] >= '0' && a[i] <= '9') ||
              a[i] == '-'))
            return 0;
    return 1;
}

char *cxb_discovery_api_base(const char *doc, size_t len, char *err, size_t errlen)
{
    static const char what[] = "cxone-configuration";
    json_t *root = load_object(what, doc, len, err, errlen);
    if (!root)
        return NULL;
    char *out = NULL;
    const json_t *api = json_object_get(root, "api_endpoint");
    const json_t *area = json_object_get(root, "area");
    if (json_is_string(api) && json_string_length(api) > 0)
        out = url_field(what, root, "api_endpoint", err, errlen);
    else if (!json_is_string(area))
        fail(err, errlen, "%s: neither \"api_endpoint\" nor \"area\" is given", what);
    else if (!area_ok(json_string_value(area)))
        fail(err, errlen, "%s: \"area\" must be 1 to %d letters, digits or '-'", what, AREA_MAX);
    else if (!(out = format("https://api-%s.niceincontact.com", json_string_value(area))))
        fail(err, errlen, "%s: out of memory", what);
    json_decref(root);
    return out;
}

/* RFC 4648 §5 alphabet value of c, or -1. */
static int b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '-' ? 62 : c == '_' ? 63 : -1;
}

/* Decodes unpadded base64url in[0..n) into a malloc'd buffer (*outlen bytes, NUL added).
 * NULL when a character is outside the alphabet, the length is impossible (n % 4 == 1) or
 * the unused low bits of the last character are not zero (a non-canonical encoding). */
static unsigned char *b64url_decode(const char *in, size_t n, size_t *outlen)
{
    if (n % 4 == 1)
        return NULL;
    unsigned char *out = malloc(n / 4 * 3 + 3);
    if (!out)
        return NULL;
    size_t o = 0;
    unsigned long acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64url_value((unsigned char)in[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = (acc << 6 | (unsigned long)v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    if (acc & ((1ul << bits) - 1)) {
        free(out);
        return NULL;
    }
    out[o] = '\0';
    *outlen = o;
    return out;
}

char *cxb_jwt_tenant_id(const char *jwt, size_t len, char *err, size_t errlen)
{
    const char *dot1 = memchr(jwt, '.', len);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - jwt)) : NULL;
    if (!dot1 || !dot2 || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - jwt)))
        return fail(err, errlen, "id_token: not a JWT (expected header.payload.signature)");
    size_t plen = 0;
    unsigned char *payload = b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &plen);
    if (!payload)
        return fail(err, errlen, "id_token: the payload is not base64url");
    /* The payload's own text is never quoted: jansson's messages would show part of it. */
    json_t *claims = json_loadb((const char *)payload, plen, 0, NULL);
    free(payload);
    const json_t *t = json_object_get(claims, "tenantId");
    char *out = NULL;
    if (!json_is_object(claims))
        fail(err, errlen, "id_token: the payload is not a JSON object");
    else if (!json_is_string(t))
        fail(err, errlen, "id_token: no \"tenantId\" claim (string) in the payload");
    else if (json_string_length(t) == 0 || json_string_length(t) > CLAIM_MAX ||
             !printable(json_string_value(t), json_string_length(t)))
        fail(err, errlen, "id_token: the \"tenantId\" claim must be 1 to %d bytes without control characters",
             CLAIM_MAX);
    else if (!(out = strdup(json_string_value(t))))
        fail(err, errlen, "id_token: out of memory");
    json_decref(claims);
    return out;
}
