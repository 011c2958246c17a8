#include "modes.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const struct {
    const char *name;
    hostile_mode mode;
} MODES[] = {
    {"ok", MODE_OK},
    {"reset", MODE_RESET},
    {"bad-chunked", MODE_BAD_CHUNKED},
    {"truncated-chunked", MODE_TRUNCATED_CHUNKED},
    {"huge", MODE_HUGE},
    {"trickle", MODE_TRICKLE},
    {"silent", MODE_SILENT},
    {"redirect", MODE_REDIRECT},
    {"echo-auth", MODE_ECHO_AUTH},
    {"echo-secret", MODE_ECHO_SECRET},
    {"drop-first", MODE_DROP_FIRST},
};

int hostile_mode_parse(const char *name, hostile_mode *out)
{
    for (size_t i = 0; i < sizeof MODES / sizeof MODES[0]; i++) {
        if (strcmp(MODES[i].name, name) == 0) {
            *out = MODES[i].mode;
            return 0;
        }
    }
    return -1;
}

static int status_or(const hostile_cfg *cfg, int def)
{
    return cfg->status ? cfg->status : def;
}

static int is_token_request(const hreq *r)
{
    return strcmp(r->method, "POST") == 0 && strstr(r->path, "token") != NULL;
}

static int send_json(hconn *c, int status, const char *body, int close_after)
{
    return hconn_printf(c, "HTTP/1.1 %d Hostile\r\nContent-Type: application/json\r\n"
                           "Content-Length: %zu\r\n%s\r\n%s",
                        status, strlen(body), close_after ? "Connection: close\r\n" : "", body);
}

static int send_token(const hostile_cfg *cfg, hconn *c, int close_after)
{
    if (cfg->token_body)
        return send_json(c, 200, cfg->token_body, close_after);
    char body[1024];
    snprintf(body, sizeof body,
             "{\"access_token\":\"%s\",\"token_type\":\"bearer\",\"expires_in\":%.17g,"
             "\"scope\":\"contact:read contact:update\"}",
             cfg->token, cfg->expires_in);
    return send_json(c, 200, body, close_after);
}

/* JSON-escapes s into out (quotes and backslashes; control characters dropped). */
static void json_escape(const char *s, char *out, size_t outlen)
{
    size_t j = 0;
    for (; *s && j + 2 < outlen; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch < 0x20)
            continue;
        if (ch == '"' || ch == '\\')
            out[j++] = '\\';
        out[j++] = (char)ch;
    }
    out[j] = '\0';
}

/* `status` with {"<field>":"<pad filler><what><a> <b>"}: a server echoing what it was sent into
 * a long error text, so that the echo lands wherever a client would cut the message. */
static int send_echo(const hostile_cfg *cfg, hconn *c, const char *field, const char *what,
                     const char *a, const char *b, int status, int close_after)
{
    size_t alen = strlen(a), blen = strlen(b);
    size_t cap = cfg->pad + strlen(what) + 2 * (alen + blen) + 64;
    char *esc = malloc(2 * (alen + blen) + 4), *body = malloc(cap);
    int rc = -1;
    if (esc && body) {
        size_t n = (size_t)snprintf(body, cap, "{\"%s\":\"", field);
        memset(body + n, '.', cfg->pad);
        n += cfg->pad;
        json_escape(a, esc, 2 * alen + 2);
        n += (size_t)snprintf(body + n, cap - n, "%s%s ", what, esc);
        json_escape(b, esc, 2 * blen + 2);
        snprintf(body + n, cap - n, "%s\"}", esc);
        rc = send_json(c, status, body, close_after);
    }
    free(esc);
    free(body);
    return rc;
}

/* After a complete answer: keep the connection unless writing failed or the client said close. */
static hostile_next next(int write_rc, int keep)
{
    return write_rc == 0 && keep ? HOSTILE_KEEP : HOSTILE_CLOSE;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Writes `total` bytes of filler in 64 KiB blocks. */
static int send_filler(hconn *c, size_t total)
{
    char line[65536];
    memset(line, 'x', sizeof line);
    while (total > 0) {
        size_t n = total < sizeof line ? total : sizeof line;
        if (hconn_write(c, line, n) != 0)
            return -1;
        total -= n;
    }
    return HOSTILE_CLOSE;
}

hostile_next hostile_answer(const hostile_cfg *cfg, hconn *c, const hreq *r, const volatile int *stop)
{
    int keep = !r->close;
    int rc;
    switch (cfg->mode) {
    case MODE_OK:
        rc = is_token_request(r) ? send_token(cfg, c, !keep) : send_json(c, status_or(cfg, 200), "{}", !keep);
        return next(rc, keep);

    case MODE_RESET:
        if (hconn_printf(c, "HTTP/1.1 %d Hostile\r\nContent-Type: application/json\r\n"
                            "Content-Length: 1000\r\n\r\n{\"message\":\"this body never ends",
                         status_or(cfg, 200)) != 0)
            return HOSTILE_CLOSE;
        sleep_ms(20); /* let the partial body reach the client before the RST */
        return HOSTILE_RESET;

    case MODE_BAD_CHUNKED:
        hconn_printf(c, "HTTP/1.1 %d Hostile\r\nContent-Type: application/json\r\n"
                        "Transfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\nzz-not-hex\r\ngarbage\r\n",
                     status_or(cfg, 200));
        return HOSTILE_CLOSE;

    case MODE_TRUNCATED_CHUNKED:
        hconn_printf(c, "HTTP/1.1 %d Hostile\r\nContent-Type: application/json\r\n"
                        "Transfer-Encoding: chunked\r\n\r\n400\r\n{\"message\":\"cut short",
                     status_or(cfg, 200));
        return HOSTILE_CLOSE;

    case MODE_HUGE:
        if (hconn_printf(c, "HTTP/1.1 %d Hostile\r\nContent-Type: application/json\r\n"
                            "Content-Length: %zu\r\n%s\r\n",
                         status_or(cfg, 200), cfg->size, keep ? "" : "Connection: close\r\n") != 0 ||
            send_filler(c, cfg->size) != 0)
            return HOSTILE_CLOSE;
        return next(0, keep);

    case MODE_TRICKLE:
        if (hconn_printf(c, "HTTP/1.1 %d Hostile\r\nContent-Type: application/json\r\n"
                            "Content-Length: 100000000\r\n\r\n",
                         status_or(cfg, 200)) != 0)
            return HOSTILE_CLOSE;
        while (!*stop && hconn_write(c, "x", 1) == 0)
            sleep_ms(200);
        return HOSTILE_CLOSE;

    case MODE_SILENT:
        hconn_wait_close(c);
        return HOSTILE_CLOSE;

    case MODE_REDIRECT:
        rc = hconn_printf(c, "HTTP/1.1 %d Hostile\r\nLocation: %s\r\nContent-Length: 0\r\n%s\r\n",
                          status_or(cfg, 302), cfg->location ? cfg->location : "/",
                          keep ? "" : "Connection: close\r\n");
        return next(rc, keep);

    case MODE_ECHO_AUTH:
        if (is_token_request(r))
            return next(send_token(cfg, c, !keep), keep);
        return next(send_echo(cfg, c, "message", "rejected Authorization: ", r->authorization, "",
                              status_or(cfg, 400), !keep), keep);

    case MODE_ECHO_SECRET:
        return next(send_echo(cfg, c, "error_description", "rejected ", r->authorization,
                              r->body ? r->body : "", status_or(cfg, 401), !keep), keep);

    case MODE_DROP_FIRST:
        if (is_token_request(r))
            return next(send_token(cfg, c, !keep), keep);
        if (atomic_fetch_add(cfg->dropped, 1) < cfg->drops)
            return HOSTILE_CLOSE; /* read, never answered: the client sees an empty reply */
        return next(send_json(c, status_or(cfg, 503), "{\"message\":\"unavailable\"}", !keep), keep);
    }
    return HOSTILE_CLOSE;
}
