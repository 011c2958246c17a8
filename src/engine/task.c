#include "engine/task.h"
#include "common/clock.h"
#include "common/text_fit.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t want_size(const cxb_task_want *w)
{
    if (!w)
        return 0;
    return strlen(w->value[0]) + strlen(w->value[1]) + (w->notes ? strlen(w->notes) : 0) + 3;
}

/* Copies s (NUL included) at *p and advances it. */
static const char *put_str(char **p, const char *s)
{
    size_t n = strlen(s) + 1;
    memcpy(*p, s, n);
    const char *at = *p;
    *p += n;
    return at;
}

cxb_task *cxb_task_new_wanted(uint64_t index, const char *contact_id, size_t id_len, const char *url,
                              size_t url_len, const char *body, size_t body_len, const char *key,
                              size_t key_len, const cxb_task_want *want)
{
    size_t n = sizeof(cxb_task) + id_len + url_len + body_len + key_len + 4 + want_size(want);
    cxb_task *t = calloc(1, n);
    if (!t)
        return NULL;
    char *p = (char *)(t + 1);
    t->index = index;
    t->contact_id = p;
    memcpy(p, contact_id, id_len);
    p += id_len + 1;
    t->url = p;
    memcpy(p, url, url_len);
    p += url_len + 1;
    t->body = p;
    memcpy(p, body, body_len);
    t->body_len = body_len;
    p += body_len + 1;
    t->key = p;
    memcpy(p, key, key_len);
    p += key_len + 1;
    if (want) {
        t->want[0] = put_str(&p, want->value[0]);
        t->want[1] = put_str(&p, want->value[1]);
        t->want_notes = want->notes ? put_str(&p, want->notes) : NULL;
    }
    return t;
}

cxb_task *cxb_task_new(uint64_t index, const char *contact_id, size_t id_len, const char *url,
                       size_t url_len, const char *body, size_t body_len, const char *key,
                       size_t key_len)
{
    return cxb_task_new_wanted(index, contact_id, id_len, url, url_len, body, body_len, key, key_len, NULL);
}

void cxb_task_free(cxb_task *t)
{
    if (t) {
        free(t->error);
        free(t->response);
        free(t->before);
        free(t);
    }
}

void cxb_task_set_error(cxb_task *t, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    cxb_text_fit(buf, sizeof buf, w); /* a long message ends between words */
    free(t->error);
    t->error = strdup(buf); /* NULL on OOM: the result still carries ok=false and its status */
}

void cxb_task_may_have_applied(cxb_task *t, long status)
{
    if (!t->unknown) {
        t->unknown = 1;
        t->unknown_attempt = t->attempts;
        t->unknown_status = status;
    }
}

void cxb_task_note_request(cxb_task *t, double sent_mono, double latency, long status)
{
    if (t->first_sent_mono <= 0) {
        t->first_sent_mono = sent_mono;
        t->first_sent_wall = cxb_now_wall() - latency; /* the answer came just now, latency after it left */
    }
    t->last_latency = (float)latency;
    if (t->tries_n >= CXB_TRIES_MAX)
        return;
    cxb_try *r = &t->tries[t->tries_n++];
    r->offset = (float)(sent_mono - t->first_sent_mono);
    r->latency = (float)latency;
    r->status = (int)status;
    r->pause = 0;
}

void cxb_task_note_pause(cxb_task *t, double seconds)
{
    /* Only while the request that set it is the last one kept (beyond CXB_TRIES_MAX it is not). */
    if (t->tries_n > 0 && t->tries_n == t->attempts)
        t->tries[t->tries_n - 1].pause = (float)seconds;
}

/* "attempt 1 may have been applied (no answer): outcome unknown; ..." or "" when not unknown. */
static void task_unknown_note(const cxb_task *t, char *buf, size_t len)
{
    char why[32];
    buf[0] = '\0';
    if (!t->unknown)
        return;
    if (t->unknown_status)
        snprintf(why, sizeof why, "HTTP %ld", t->unknown_status);
    else
        snprintf(why, sizeof why, "no answer");
    snprintf(buf, len, "attempt %d may have been applied (%s): outcome unknown; a rerun with the "
                       "same batch_id / journal is safe", t->unknown_attempt, why);
}

void cxb_task_fail(cxb_task *t, cxb_kind kind, const char *msg)
{
    char note[200];
    t->kind = kind;
    task_unknown_note(t, note, sizeof note);
    cxb_task_set_error(t, "%s%s%s", msg, note[0] ? "; " : "", note);
}

void cxb_task_cancelled(cxb_task *t, const char *fatal, const char *why, int in_flight)
{
    char note[200];
    t->ok = 0;
    t->cancelled = 1;
    t->kind = CXB_KIND_CANCELLED;
    task_unknown_note(t, note, sizeof note);
    if (fatal)
        cxb_task_set_error(t, "batch aborted: %s%s%s", fatal, note[0] ? "; " : "", note);
    else if (t->unknown && in_flight)
        cxb_task_set_error(t, "%scancelled while the request was in flight: outcome unknown "
                          "(rerun with the same idempotency key / batch_id is safe)", why);
    else if (t->unknown)
        cxb_task_set_error(t, "%scancelled before attempt %d was sent; %s", why, t->attempts + 1, note);
    else if (in_flight)
        cxb_task_set_error(t, "%scancelled while a GET was in flight; no update was sent", why);
    else if (t->attempts > 0)
        cxb_task_set_error(t, "%scancelled before attempt %d was sent; none of the %d before it was "
                          "applied (each got a definitive answer)", why, t->attempts + 1, t->attempts);
    else
        cxb_task_set_error(t, "%scancelled before it was sent", why);
}
