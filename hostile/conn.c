#define _GNU_SOURCE /* memmem */
#include "conn.h"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define BODY_CAP (1u << 20)

int hconn_open(hconn *c, int fd, SSL_CTX *ctx)
{
    c->fd = fd;
    c->ssl = NULL;
    c->len = 0;
    if (!ctx)
        return 0;
    c->ssl = SSL_new(ctx);
    if (!c->ssl)
        return -1;
    SSL_set_fd(c->ssl, fd);
    if (SSL_accept(c->ssl) != 1) {
        /* A client that refuses our certificate ends up here: that is the point of the TLS mode. */
        SSL_free(c->ssl);
        c->ssl = NULL;
        return -1;
    }
    return 0;
}

/* Reads more bytes into buf; returns the count, 0 on EOF, -1 on error or a full buffer. */
static long conn_fill(hconn *c)
{
    if (c->len >= sizeof c->buf)
        return -1;
    for (;;) {
        long n;
        if (c->ssl) {
            n = SSL_read(c->ssl, c->buf + c->len, (int)(sizeof c->buf - c->len));
            if (n <= 0)
                return SSL_get_error(c->ssl, (int)n) == SSL_ERROR_ZERO_RETURN ? 0 : -1;
        } else {
            n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                return -1;
        }
        c->len += (size_t)n;
        return n;
    }
}

static void consume(hconn *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

/* Copies the value of header `name` out of the head (lines separated by CRLF). */
static void head_value(const char *head, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    out[0] = '\0';
    for (const char *p = strstr(head, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            const char *e = strstr(v, "\r\n");
            size_t len = e ? (size_t)(e - v) : strlen(v);
            if (len >= outlen)
                len = outlen - 1;
            memcpy(out, v, len);
            out[len] = '\0';
            return;
        }
    }
}

int hconn_read_request(hconn *c, hreq *r)
{
    memset(r, 0, sizeof *r);
    char *end;
    for (;;) {
        end = c->len ? memmem(c->buf, c->len, "\r\n\r\n", 4) : NULL;
        if (end)
            break;
        long n = conn_fill(c);
        if (n <= 0)
            return n == 0 && c->len == 0 ? 0 : -1;
    }
    size_t head_len = (size_t)(end - c->buf) + 4;
    char *head = malloc(head_len + 1);
    if (!head)
        return -1;
    memcpy(head, c->buf, head_len);
    head[head_len] = '\0';
    consume(c, head_len);
    if (sscanf(head, "%15s %1023s", r->method, r->path) != 2) {
        free(head);
        return -1;
    }
    char v[64];
    head_value(head, "Authorization", r->authorization, sizeof r->authorization);
    head_value(head, "Connection", v, sizeof v);
    r->close = strcasecmp(v, "close") == 0;
    head_value(head, "Content-Length", v, sizeof v);
    free(head);
    size_t want = v[0] ? strtoul(v, NULL, 10) : 0;
    size_t keep = want < BODY_CAP ? want : BODY_CAP;
    r->body = malloc(keep + 1);
    if (!r->body)
        return -1;
    size_t got = 0;
    while (got < want) {
        if (c->len == 0 && conn_fill(c) <= 0) {
            hreq_free(r);
            return -1;
        }
        size_t take = c->len < want - got ? c->len : want - got;
        if (r->body_len < keep) {
            size_t k = take < keep - r->body_len ? take : keep - r->body_len;
            memcpy(r->body + r->body_len, c->buf, k);
            r->body_len += k;
        }
        consume(c, take);
        got += take;
    }
    r->body[r->body_len] = '\0';
    return 1;
}

void hreq_free(hreq *r)
{
    free(r->body);
    r->body = NULL;
}

int hconn_write(hconn *c, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        long n;
        if (c->ssl) {
            n = SSL_write(c->ssl, p, (int)(len > (1u << 30) ? (1u << 30) : len));
            if (n <= 0)
                return -1;
        } else {
            n = send(c->fd, p, len, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int hconn_printf(hconn *c, const char *fmt, ...)
{
    char small[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    if ((size_t)n < sizeof small)
        return hconn_write(c, small, (size_t)n);
    char *big = malloc((size_t)n + 1);
    if (!big)
        return -1;
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    int rc = hconn_write(c, big, (size_t)n);
    free(big);
    return rc;
}

void hconn_wait_close(hconn *c)
{
    for (;;) {
        c->len = 0;
        if (conn_fill(c) <= 0)
            return;
    }
}

void hconn_reset(hconn *c)
{
    struct linger lg = {1, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    if (c->ssl) {
        SSL_free(c->ssl); /* no close_notify: the point is an abrupt end */
        c->ssl = NULL;
    }
    close(c->fd);
    c->fd = -1;
}

void hconn_close(hconn *c)
{
    if (c->ssl) {
        SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}
