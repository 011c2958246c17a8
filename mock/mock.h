/* The mock CXone server: state shared by the HTTP glue (server.c) and the route
 * handlers (api.c, oauth.c, admin.c). One struct mock owns everything; there is no
 * global mutable state. */
#ifndef CXONE_MOCK_MOCK_H
#define CXONE_MOCK_MOCK_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "body_cache.h"
#include "config.h"
#include "contacts.h"
#include "delayer.h"
#include "dispositions.h"
#include "idem_store.h"
#include "initial_values.h"
#include "outcomes.h"
#include "ratelimit.h"
#include "reply.h"
#include "skills.h"
#include "stats.h"
#include "tokens.h"
#include "util.h"

/* API profiles the server answers (--api): the tutorial's /oauth2/token and /api/v2/, and the
 * real platform's discovery, /auth/token and /incontactapi/. */
#define API_TUTORIAL 1u
#define API_CXONE 2u

/* Start-up settings that cannot change at run time. */
struct mock_options {
    unsigned port;
    unsigned threads;
    size_t max_body;
    long contacts_n;       /* -1: not given */
    char *contacts_file;
    bool any_contact;
    char *outcomes_file;
    char *skills_file;     /* cxone profile: skills and their dispositions (NULL: built in) */
    bool quiet, verbose;
    bool history;          /* keep per-contact value histories (GET /_mock/stats?history=1) */
    unsigned families;     /* API_TUTORIAL | API_CXONE */
    struct iv_options values; /* what contacts hold before they are written */
    struct mock_config cfg;
};

struct mock {
    pthread_rwlock_t cfg_lock;
    struct mock_config cfg;       /* guarded by cfg_lock */
    _Atomic long once_429;        /* pending one-off Retry-After (0 = none) */
    struct outcomes *outcomes;
    struct skills *skills;        /* cxone profile: skills -> dispositions */
    struct disposition_store *dispositions; /* cxone profile: per-contact dispositions */
    struct body_cache *bodies;    /* PUT body -> outcome, see body_cache.h */
    struct contacts *contacts;
    struct initial_values *initial; /* each contact's value before it is written */
    struct idem_store *idem;
    struct tokens *tokens;
    struct ratelimit limiter;
    struct stats stats;
    struct delayer *delayer;
    struct rng rng;
    struct MHD_Daemon *daemon;
    uint64_t start_ns;
    size_t max_body;
    bool verbose;
    bool history;                 /* per-contact histories are kept */
    _Atomic unsigned port;        /* bound port, for the discovery documents' URLs (mock_port) */
    unsigned families;            /* API profiles served */
    _Atomic long suspended;       /* connections waiting in the delayer */
};

enum http_method { M_GET, M_HEAD, M_PUT, M_POST, M_OTHER };

enum route {
    RT_UNKNOWN, RT_TOKEN, RT_CONTACT, RT_OUTCOMES, RT_CONFIG, RT_STATS, RT_RESET,
    /* the cxone profile */
    RT_CXONE_TOKEN, RT_OIDC_CONFIG, RT_CXONE_CONFIG, RT_SET_DISPOSITION, RT_GET_DISPOSITION,
    RT_SKILL_DISPOSITIONS
};

/* Fault settings snapshot taken when an /api/ request arrives. */
struct faults {
    double latency_ms, jitter_ms;
    double drop, late, late_seconds;
    double error_after;           /* error_after_mutate (set-disposition only) */
    bool retry_after_date;
    double retention;
};

struct req {
    enum route route;
    enum http_method method;
    const char *method_name;
    const char *path;             /* raw path, owned by MHD for the request's lifetime */
    bool api;                     /* path under /api/ */
    bool admin;                   /* path under /_mock/ */
    bool in_flight;               /* counted by stats_enter */
    bool too_large;
    bool suspended;
    bool drop;
    bool answered;
    uint64_t arrival_ns;
    uint64_t delay_ns;
    struct faults faults;

    size_t id_len;
    const char *id_error;         /* why the id segment is unusable, or NULL */

    char *body;                   /* request body: body_inline or heap */
    size_t body_len, body_cap;
    uint64_t body_hash;           /* hash_bytes(body), computed for PUTs */

    bool idem_claimed;            /* an Idempotency-Key record awaits completion */
    uint64_t idem_claim;
    size_t idem_key_len;

    struct reply reply;

    /* Buffers last: only the fields above are zeroed for each request. */
    char id[CONTACT_ID_MAX + 1];  /* decoded contact id */
    char idem_key[IDEM_KEY_MAX + 1];
    char body_inline[1024];
};

/* Requests (request.c). */
/* Decodes one raw path segment seg[0..n) into r->id (or sets r->id_error). */
void req_decode_id(struct req *r, const char *seg, size_t n);
/* 405 with an Allow header. */
void method_not_allowed(struct req *r, const char *allow);
/* The mock_now() clock at the request's arrival (saves reading it again on the hot path). */
double req_now(const struct req *r);

/* The cxone profile (cxone_routes.c, cxone_auth.c, discovery.c). cxone_route() recognises
 * its paths (true when it set r->route or r->api); cxone_dispatch() answers them. */
bool cxone_route(struct req *r, const char *url);
enum stat_route cxone_stat_route(const struct req *r);
void cxone_dispatch(struct mock *m, struct req *r, struct MHD_Connection *c);
void cxone_token(struct mock *m, struct req *r, struct MHD_Connection *c);
void discovery_openid(struct mock *m, struct req *r);
void discovery_cxone(struct mock *m, struct req *r, struct MHD_Connection *c);

/* The bound port (0 only before it is known: a --port 0 server prints it after it is set).
 * Inline, so handlers that need it do not depend on server.c. */
static inline unsigned mock_port(const struct mock *m)
{
    return atomic_load(&m->port);
}

/* Lifecycle (server.c). */
int mock_init(struct mock *m, struct mock_options *opt, char *err, size_t errlen);
int mock_listen(struct mock *m, unsigned port, unsigned threads, bool quiet, unsigned *bound,
                char *err, size_t errlen);
void mock_shutdown(struct mock *m);
void mock_destroy(struct mock *m);

/* Route handlers: they fill r->reply (and for PUT may claim an idempotency key). */
void api_put_contact(struct mock *m, struct req *r, struct MHD_Connection *c);
void api_get_contact(struct mock *m, struct req *r, struct MHD_Connection *c);
void api_get_outcomes(struct mock *m, struct req *r, struct MHD_Connection *c);
void oauth_token(struct mock *m, struct req *r, struct MHD_Connection *c);
void admin_config(struct mock *m, struct req *r);
void admin_stats(struct mock *m, struct req *r, struct MHD_Connection *c);
void admin_reset(struct mock *m, struct req *r);

/* With --history: adds "outcome_history" and "disposition_history" to obj (history.c). 0 or -1. */
int history_to_json(struct mock *m, json_t *obj);

/* Applies a JSON config object under the config lock (admin.c). 0 or -1 with err. */
int mock_apply_config(struct mock *m, const json_t *obj, char *err, size_t errlen);
json_t *mock_config_json(struct mock *m);

#endif
