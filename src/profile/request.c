#include "profile/request.h"
#include "profile/cxone_request.h"
#include "profile/disposition.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The two-character escapes lua-cjson writes (0: none). */
static char short_escape(unsigned char c)
{
    switch (c) {
    case '"': return '"';
    case '\\': return '\\';
    case '/': return '/';
    case '\b': return 'b';
    case '\t': return 't';
    case '\n': return 'n';
    case '\f': return 'f';
    case '\r': return 'r';
    }
    return 0;
}

size_t cxb_json_string(const char *s, size_t len, char *out)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;
    out[n++] = '"';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char e;
        /* Letters and digits first: the common byte costs three tests, as the plain path's did. */
        if ((c > '/' && c != '\\' && c != 0x7f) || (c >= 0x20 && c < '/' && c != '"')) {
            out[n++] = (char)c;
        } else if ((e = short_escape(c)) != 0) {
            out[n++] = '\\';
            out[n++] = e;
        } else {
            memcpy(out + n, "\\u00", 4);
            out[n + 4] = hex[c >> 4];
            out[n + 5] = hex[c & 15];
            n += 6;
        }
    }
    out[n++] = '"';
    return n;
}

size_t cxb_pct_encode(const char *id, size_t id_len, char *out)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (size_t i = 0; i < id_len; i++) {
        unsigned char c = (unsigned char)id[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
            c == '.' || c == '_' || c == '~') {
            out[n++] = (char)c;
        } else {
            out[n++] = '%';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 15];
        }
    }
    return n;
}

size_t cxb_tutorial_body(const char *cat, size_t cat_len, const char *sub, size_t sub_len, char *out)
{
    static const char a[] = "{\"outcome\":{\"category\":", b[] = ",\"subcategory\":", c[] = "}}";
    size_t n = 0;
    memcpy(out + n, a, sizeof a - 1);
    n += sizeof a - 1;
    n += cxb_json_string(cat, cat_len, out + n);
    memcpy(out + n, b, sizeof b - 1);
    n += sizeof b - 1;
    n += cxb_json_string(sub, sub_len, out + n);
    memcpy(out + n, c, sizeof c - 1);
    return n + sizeof c - 1;
}

static int tutorial_build(const cxb_request_ctx *ctx, const cxb_request_fields *f, cxb_request *r)
{
    r->method = "PUT";
    r->url = malloc(ctx->url_prefix_len + 3 * f->id_len + 1);
    r->body = malloc(CXB_TUTORIAL_BODY_MAX(f->outcome_len[0], f->outcome_len[1]) + 1);
    if (!r->url || !r->body)
        return -1;
    memcpy(r->url, ctx->url_prefix, ctx->url_prefix_len);
    r->url_len = ctx->url_prefix_len + cxb_pct_encode(f->id, f->id_len, r->url + ctx->url_prefix_len);
    r->url[r->url_len] = '\0';
    r->body_len = cxb_tutorial_body(f->outcome[0], f->outcome_len[0], f->outcome[1], f->outcome_len[1], r->body);
    r->body[r->body_len] = '\0';
    return 0;
}

static const char *given(const char *s)
{
    return s && *s ? s : NULL;
}

static int cxone_build(const cxb_request_ctx *ctx, const cxb_request_fields *f, cxb_request *r, char *err,
                       size_t errlen)
{
    struct cxb_disposition d = {f->outcome[0], f->outcome[1], given(f->optional[0]), given(f->optional[1]),
                                given(f->optional[2]), given(f->optional[3])};
    r->method = "POST";
    r->body = cxb_disposition_body(&d, &r->body_len, err, errlen);
    if (!r->body)
        return -2; /* err says why */
    if (ctx->api_base) {
        char *id = strndup(f->id, f->id_len); /* ids are validated: no NUL inside */
        r->url = id ? cxb_cxone_contact_url(ctx->api_base, ctx->api_version, id, 0) : NULL;
        free(id);
        if (!r->url)
            return -1;
        r->url_len = strlen(r->url);
    }
    return 0;
}

int cxb_request_build(enum cxb_shape shape, const cxb_request_ctx *ctx, const cxb_request_fields *f,
                      cxb_request *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    int rc = shape == CXB_SHAPE_CXONE ? cxone_build(ctx, f, out, err, errlen) : tutorial_build(ctx, f, out);
    if (rc != 0) {
        if (rc == -1)
            snprintf(err, errlen, "out of memory building the request");
        cxb_request_free(out);
        return -1;
    }
    if (f->key) {
        out->key = f->key;
        out->key_len = f->key_len;
    } else if (shape == CXB_SHAPE_CXONE) {
        out->key = ""; /* set-disposition takes no key: exactly-once comes from the journal and read-backs */
    } else {
        cxb_idempotency_key(ctx->batch, ctx->batch_len, f->id, f->id_len, out->body, out->body_len, out->derived);
        out->key = out->derived;
        out->key_len = CXB_KEY_LEN;
    }
    return 0;
}

void cxb_request_free(cxb_request *r)
{
    free(r->url);
    free(r->body);
    r->url = r->body = NULL;
}
