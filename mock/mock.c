/* Setting up and tearing down the one struct mock that owns all state. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mock.h"

static void housekeeping(void *arg)
{
    struct mock *m = arg;
    pthread_rwlock_rdlock(&m->cfg_lock);
    double retention = m->cfg.retention;
    pthread_rwlock_unlock(&m->cfg_lock);
    double now = mock_now();
    idem_sweep(m->idem, now, retention);
    tokens_sweep(m->tokens, now);
}

static int add_generated(struct contacts *c, long n)
{
    char id[32];
    for (long i = 1; i <= n; i++) {
        int len = snprintf(id, sizeof id, "contact-%06ld", i);
        if (contacts_add(c, id, (size_t)len) != 0)
            return -1;
    }
    return 0;
}

static int add_known(void *ctx, const char *id, size_t len)
{
    return contacts_add(ctx, id, len);
}

/* The contact table: --contacts N generated ids, --contacts-file, the ids of --values-file. */
static int make_contacts(struct mock *m, const struct mock_options *o, char *err, size_t errlen)
{
    long generated = o->contacts_n;
    long from_file = 0;
    if (o->contacts_file) {
        from_file = contacts_count_file(o->contacts_file);
        if (from_file < 0) {
            snprintf(err, errlen, "--contacts-file %s: cannot read it", o->contacts_file);
            return -1;
        }
    }
    if (generated < 0)
        generated = o->contacts_file ? 0 : 1000;
    size_t expected = (size_t)(generated + from_file) + iv_file_count(m->initial);
    m->contacts = contacts_new(o->any_contact, expected, o->history);
    if (!m->contacts || add_generated(m->contacts, generated) != 0 ||
        iv_each_id(m->initial, add_known, m->contacts) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (o->contacts_file && contacts_add_file(m->contacts, o->contacts_file, err, errlen) != 0)
        return -1;
    return 0;
}

int mock_init(struct mock *m, struct mock_options *o, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    m->start_ns = mono_ns();
    m->cfg = o->cfg; /* ownership of the strings moves here */
    memset(&o->cfg, 0, sizeof o->cfg);
    pthread_rwlock_init(&m->cfg_lock, NULL);
    ratelimit_init(&m->limiter, m->cfg.rate, m->cfg.burst, mock_now());
    stats_init(&m->stats, m->start_ns);
    atomic_init(&m->once_429, (long)m->cfg.once_429_retry_after);
    atomic_init(&m->suspended, 0);
    m->max_body = o->max_body;
    m->verbose = o->verbose;
    m->families = o->families;
    m->history = o->history;
    if (rng_init(&m->rng) != 0) {
        snprintf(err, errlen, "cannot read random bytes (getrandom failed)");
        return -1;
    }
    if (!(m->outcomes = outcomes_load(o->outcomes_file, err, errlen)) ||
        !(m->skills = skills_load(o->skills_file, err, errlen)) ||
        !(m->initial = iv_load(&o->values, m->outcomes, m->skills, err, errlen)) ||
        make_contacts(m, o, err, errlen) != 0)
        return -1;
    m->idem = idem_new();
    m->tokens = tokens_new();
    m->bodies = body_cache_new();
    m->dispositions = dispositions_new(o->history);
    if (!m->idem || !m->tokens || !m->bodies || !m->dispositions) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    m->delayer = delayer_start(housekeeping, m);
    if (!m->delayer) {
        snprintf(err, errlen, "cannot start the timer thread");
        return -1;
    }
    return 0;
}

void mock_destroy(struct mock *m)
{
    if (m->daemon)
        mock_shutdown(m);
    delayer_free(m->delayer);
    m->delayer = NULL;
    contacts_free(m->contacts);
    idem_free(m->idem);
    tokens_free(m->tokens);
    body_cache_free(m->bodies);
    outcomes_free(m->outcomes);
    skills_free(m->skills);
    iv_free(m->initial);
    dispositions_free(m->dispositions);
    stats_destroy(&m->stats);
    ratelimit_destroy(&m->limiter);
    pthread_rwlock_destroy(&m->cfg_lock);
    config_free(&m->cfg);
}
