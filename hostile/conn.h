/* One accepted connection of the hostile server: plain TCP or TLS (OpenSSL), with a small read
 * buffer and just enough HTTP/1.1 request parsing to answer, misbehave, or log. */
#ifndef HOSTILE_CONN_H
#define HOSTILE_CONN_H
#include <openssl/ssl.h>
#include <stddef.h>

#define HCONN_BUF 65536

typedef struct hconn {
    int fd;
    SSL *ssl;                /* NULL: plain TCP */
    char buf[HCONN_BUF];     /* bytes read but not consumed yet */
    size_t len;
} hconn;

typedef struct hreq {
    char method[16];
    char path[1024];
    char authorization[4096]; /* the Authorization header value, "" when absent */
    char *body;               /* malloc'd, NUL-terminated (may be capped), or NULL */
    size_t body_len;
    int close;                /* the client asked for Connection: close */
} hreq;

/* Wraps fd; with ctx, performs the TLS handshake first. Returns 0, or -1 (fd left open). */
int hconn_open(hconn *c, int fd, SSL_CTX *ctx);

/* Reads one request (head and Content-Length body, body capped at 1 MiB). Returns 1 when one
 * arrived, 0 on a clean close before any byte, -1 on error or a malformed request. */
int hconn_read_request(hconn *c, hreq *r);
void hreq_free(hreq *r);

/* Writes everything; -1 when the peer went away. */
int hconn_write(hconn *c, const void *data, size_t len);
int hconn_printf(hconn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Blocks until the peer closes (or the server shuts the socket down); discards what arrives. */
void hconn_wait_close(hconn *c);

/* Closes with a TCP RST instead of a FIN (SO_LINGER 0), the way a crashing server or a middlebox
 * kills a connection. */
void hconn_reset(hconn *c);

/* Orderly close (TLS close_notify when TLS). */
void hconn_close(hconn *c);
#endif
