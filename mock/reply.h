/* The answer being prepared for one request, and the helpers every route handler fills it
 * with. Kept apart from the HTTP glue (server.c) so handlers depend on this file, not on the
 * server that calls them. */
#ifndef CXONE_MOCK_REPLY_H
#define CXONE_MOCK_REPLY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct reply {
    unsigned status;              /* 0 = not decided yet */
    char *body;                   /* malloc'd, or static when body_static */
    size_t len;
    bool body_static;
    bool replayed;                /* Idempotent-Replayed: true */
    bool no_store;                /* Cache-Control: no-store (token responses) */
    const char *allow;            /* Allow header for 405 */
    const char *www_authenticate;
    char retry_after[40];         /* empty = no Retry-After */
};

/* body_json is consumed; NULL (allocation failed upstream) becomes a 500. */
void reply_json(struct reply *rep, unsigned status, json_t *body_json);
/* {"error": error, "message": <fmt>}. */
void reply_error(struct reply *rep, unsigned status, const char *error, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A body that outlives the request (a literal or a document rendered at load time). */
void reply_static(struct reply *rep, unsigned status, const char *body, size_t len);
/* Takes ownership of the malloc'd body[0..len). */
void reply_owned(struct reply *rep, unsigned status, char *body, size_t len);
/* Retry-After of secs seconds (rounded up, at least 1), as delta-seconds or an HTTP-date. */
void reply_retry_after(struct reply *rep, double secs, bool as_date);
/* 405 naming the method, with an Allow header. */
void reply_method_not_allowed(struct reply *rep, const char *method, const char *allow);
/* Frees a body the reply still owns (the request is going away unanswered). */
void reply_release(struct reply *rep);

#endif
