/* What the hostile server does with each request: one mode per way a server can be broken,
 * plus "ok", a minimal well-behaved CXone (token endpoint + contact PUT/GET) to pair with them. */
#ifndef HOSTILE_MODES_H
#define HOSTILE_MODES_H
#include "conn.h"
#include <stdatomic.h>
#include <stddef.h>

typedef enum {
    MODE_OK,                /* POST *token*: the token body; anything else: `status` with "{}" */
    MODE_RESET,             /* headers and part of the body, then a TCP RST */
    MODE_BAD_CHUNKED,       /* chunked encoding with a chunk size that is not hex */
    MODE_TRUNCATED_CHUNKED, /* a chunk announced longer than what is sent, then FIN */
    MODE_HUGE,              /* `status` with a `size`-byte body (10 MiB by default) */
    MODE_TRICKLE,           /* headers, then one body byte every 200 ms, forever */
    MODE_SILENT,            /* reads the request and never answers */
    MODE_REDIRECT,          /* `status` (302) with Location: `location` */
    MODE_ECHO_AUTH,         /* tokens like "ok"; API requests: `status` (400) echoing Authorization */
    MODE_ECHO_SECRET,       /* token requests: `status` (401) echoing the request's credentials */
    MODE_DROP_FIRST         /* tokens like "ok"; the first `drops` API requests are read and the
                               connection closed unanswered, later ones get `status` (503) */
} hostile_mode;

typedef struct hostile_cfg {
    hostile_mode mode;
    int status;              /* 0: the mode's default */
    const char *location;    /* redirect target */
    const char *token;       /* the access_token issued in "ok"/"echo-auth" */
    double expires_in;
    const char *token_body;  /* NULL: a well-formed body built from token and expires_in */
    size_t size;             /* "huge" body size */
    size_t pad;              /* echo modes: filler bytes before the echo in the message */
    int drops;               /* drop-first: how many API requests go unanswered */
    atomic_int *dropped;     /* drop-first: how many were dropped so far (shared by connections) */
} hostile_cfg;

/* Parses a mode name; -1 when unknown. */
int hostile_mode_parse(const char *name, hostile_mode *out);

typedef enum {
    HOSTILE_KEEP,   /* serve another request on this connection */
    HOSTILE_CLOSE,  /* close it (FIN) */
    HOSTILE_RESET   /* kill it with a TCP RST */
} hostile_next;

/* Handles one request on c and says what to do with the connection; the caller closes it. */
hostile_next hostile_answer(const hostile_cfg *cfg, hconn *c, const hreq *r, const volatile int *stop);
#endif
