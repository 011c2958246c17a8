/* cxone-hostile: a deliberately broken HTTP server for the hardening specs.
 *
 *   cxone-hostile --mode MODE [--port N] [--status N] [--location URL] [--token T]
 *                 [--expires-in S] [--token-body JSON] [--size BYTES] [--log FILE]
 *                 [--pad BYTES] [--drops N] [--tls-cert PEM --tls-key PEM]
 *
 * Listens on 127.0.0.1 only, prints the bound port as the first stdout line (like cxone-mock),
 * then serves until SIGTERM/SIGINT. One thread per connection; every thread is joined, at the
 * latest at shutdown, which first shuts every open socket down so blocked reads and writes end.
 * --log appends "METHOD PATH auth=bearer|basic|none" per request (never the credentials). */
#include "conn.h"
#include "modes.h"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CONNS 256

typedef struct server server;

typedef struct slot {
    server *srv;
    pthread_t tid;
    int used;          /* a thread was started and not joined yet */
    atomic_int done;   /* the thread has finished */
    int fd;            /* the connection's socket while open, -1 after; guarded by srv->mu */
} slot;

struct server {
    hostile_cfg cfg;
    SSL_CTX *tls;
    FILE *log;
    pthread_mutex_t mu;  /* log writes and slot fds */
    volatile int stop;
    atomic_int dropped;  /* drop-first: API requests left unanswered so far */
    slot slots[MAX_CONNS];
};

static void log_request(server *s, const hreq *r)
{
    if (!s->log)
        return;
    const char *kind = !r->authorization[0] ? "none"
                       : strncasecmp(r->authorization, "Bearer ", 7) == 0 ? "bearer"
                       : strncasecmp(r->authorization, "Basic ", 6) == 0 ? "basic" : "other";
    pthread_mutex_lock(&s->mu);
    fprintf(s->log, "%s %s auth=%s\n", r->method, r->path, kind);
    fflush(s->log);
    pthread_mutex_unlock(&s->mu);
}

static void *conn_main(void *arg)
{
    slot *sl = arg;
    server *s = sl->srv;
    hconn *c = malloc(sizeof *c);
    hostile_next next = HOSTILE_CLOSE;
    int opened = c && hconn_open(c, sl->fd, s->tls) == 0;
    if (opened) {
        for (;;) {
            hreq r;
            int got = hconn_read_request(c, &r);
            if (got <= 0)
                break;
            log_request(s, &r);
            next = hostile_answer(&s->cfg, c, &r, &s->stop);
            hreq_free(&r);
            if (next != HOSTILE_KEEP || s->stop)
                break;
        }
    }
    /* Closed under the lock so the shutdown in reap() never touches a reused descriptor. */
    pthread_mutex_lock(&s->mu);
    if (opened && next == HOSTILE_RESET)
        hconn_reset(c);
    else if (opened)
        hconn_close(c);
    else
        close(sl->fd);
    sl->fd = -1;
    pthread_mutex_unlock(&s->mu);
    free(c);
    atomic_store(&sl->done, 1);
    return NULL;
}

/* Joins finished connection threads; with all, shuts every open socket down and joins all. */
static void reap(server *s, int all)
{
    if (all) {
        pthread_mutex_lock(&s->mu);
        for (int i = 0; i < MAX_CONNS; i++)
            if (s->slots[i].used && s->slots[i].fd >= 0)
                shutdown(s->slots[i].fd, SHUT_RDWR);
        pthread_mutex_unlock(&s->mu);
    }
    for (int i = 0; i < MAX_CONNS; i++) {
        slot *sl = &s->slots[i];
        if (sl->used && (all || atomic_load(&sl->done))) {
            pthread_join(sl->tid, NULL);
            sl->used = 0;
        }
    }
}

static int start_conn(server *s, int fd)
{
    reap(s, 0);
    for (int i = 0; i < MAX_CONNS; i++) {
        slot *sl = &s->slots[i];
        if (sl->used)
            continue;
        sl->srv = s;
        sl->fd = fd;
        atomic_store(&sl->done, 0);
        if (pthread_create(&sl->tid, NULL, conn_main, sl) != 0)
            return -1;
        sl->used = 1;
        return 0;
    }
    return -1; /* too many connections: the caller drops this one */
}

static int sig_pipe[2] = {-1, -1}; /* written only by the signal handler */

static void on_signal(int sig)
{
    int saved = errno;
    char b = (char)sig;
    if (write(sig_pipe[1], &b, 1) < 0) {
        /* nothing to do: the loop also polls the flag below */
    }
    errno = saved;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: cxone-hostile --mode MODE [--port N] [--status N] [--location URL]\n"
               "         [--token T] [--expires-in S] [--token-body JSON] [--size BYTES]\n"
               "         [--log FILE] [--pad BYTES] [--drops N] [--tls-cert PEM --tls-key PEM]\n"
               "modes: ok reset bad-chunked truncated-chunked huge trickle silent redirect\n"
               "       echo-auth echo-secret drop-first\n");
}

static SSL_CTX *tls_context(const char *cert, const char *key)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        unsigned long e = ERR_get_error();
        fprintf(stderr, "cxone-hostile: cannot load TLS certificate/key: %s\n",
                e ? ERR_error_string(e, NULL) : "out of memory");
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

static int listen_on(unsigned port, unsigned *bound)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 128) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
        close(fd);
        return -1;
    }
    *bound = ntohs(a.sin_port);
    return fd;
}

int main(int argc, char **argv)
{
    static server srv; /* large (slots): static storage, owned by main only */
    server *s = &srv;
    s->cfg.token = "hostile-token-0123456789abcdef";
    s->cfg.expires_in = 3600;
    s->cfg.size = 10u << 20;
    s->cfg.dropped = &s->dropped;
    s->cfg.drops = 1;
    const char *mode = NULL, *cert = NULL, *key = NULL, *logpath = NULL;
    unsigned port = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (!v) {
            fprintf(stderr, "cxone-hostile: %s needs a value\n", a);
            return 2;
        }
        i++;
        if (strcmp(a, "--mode") == 0) mode = v;
        else if (strcmp(a, "--port") == 0) port = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "--status") == 0) s->cfg.status = atoi(v);
        else if (strcmp(a, "--location") == 0) s->cfg.location = v;
        else if (strcmp(a, "--token") == 0) s->cfg.token = v;
        else if (strcmp(a, "--expires-in") == 0) s->cfg.expires_in = strtod(v, NULL);
        else if (strcmp(a, "--token-body") == 0) s->cfg.token_body = v;
        else if (strcmp(a, "--size") == 0) s->cfg.size = strtoull(v, NULL, 10);
        else if (strcmp(a, "--pad") == 0) s->cfg.pad = strtoull(v, NULL, 10);
        else if (strcmp(a, "--drops") == 0) s->cfg.drops = atoi(v);
        else if (strcmp(a, "--log") == 0) logpath = v;
        else if (strcmp(a, "--tls-cert") == 0) cert = v;
        else if (strcmp(a, "--tls-key") == 0) key = v;
        else {
            fprintf(stderr, "cxone-hostile: unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!mode || hostile_mode_parse(mode, &s->cfg.mode) != 0) {
        fprintf(stderr, "cxone-hostile: --mode is required and must be one of the modes below\n");
        usage(stderr);
        return 2;
    }
    if ((cert != NULL) != (key != NULL)) {
        fprintf(stderr, "cxone-hostile: --tls-cert and --tls-key go together\n");
        return 2;
    }
    if (cert && !(s->tls = tls_context(cert, key)))
        return 1;
    if (logpath && !(s->log = fopen(logpath, "a"))) {
        fprintf(stderr, "cxone-hostile: cannot open log %s\n", logpath);
        SSL_CTX_free(s->tls);
        return 1;
    }
    pthread_mutex_init(&s->mu, NULL);
    signal(SIGPIPE, SIG_IGN);
    unsigned bound = 0;
    int lfd = listen_on(port, &bound);
    if (lfd < 0 || pipe(sig_pipe) != 0) {
        fprintf(stderr, "cxone-hostile: cannot listen on 127.0.0.1:%u: %s\n", port, strerror(errno));
        return 1;
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    printf("%u\n", bound);
    fflush(stdout);

    while (!s->stop) {
        struct pollfd p[2] = {{lfd, POLLIN, 0}, {sig_pipe[0], POLLIN, 0}};
        int n = poll(p, 2, 1000);
        if (n < 0 && errno != EINTR)
            break;
        if (p[1].revents & POLLIN)
            s->stop = 1;
        else if (p[0].revents & POLLIN) {
            int fd = accept(lfd, NULL, NULL);
            if (fd >= 0 && start_conn(s, fd) != 0)
                close(fd);
        }
        reap(s, 0);
    }
    reap(s, 1);
    close(lfd);
    close(sig_pipe[0]);
    close(sig_pipe[1]);
    if (s->log)
        fclose(s->log);
    SSL_CTX_free(s->tls);
    pthread_mutex_destroy(&s->mu);
    return 0;
}
