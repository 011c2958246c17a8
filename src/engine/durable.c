#include "engine/durable.h"
#include "common/clock.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct cxb_durable {
    pthread_mutex_t mu;       /* guards the fields below; never held across a sync, so the
                                 owner's cxb_durable_written never waits for the disk */
    pthread_mutex_t sync_mu;  /* one sync at a time: the others wait for it, then find their
                                 index covered */
    pthread_cond_t cv;        /* written advanced */
    int fd;                   /* -1: no journal */
    uint64_t written, synced;
    int failed;               /* errno of a failed sync: every later wait fails too */
};

cxb_durable *cxb_durable_new(void)
{
    cxb_durable *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int bad = pthread_mutex_init(&d->mu, NULL) != 0;
    if (!bad && pthread_mutex_init(&d->sync_mu, NULL) != 0) {
        pthread_mutex_destroy(&d->mu);
        bad = 1;
    }
    if (!bad && pthread_cond_init(&d->cv, &ca) != 0) {
        pthread_mutex_destroy(&d->mu);
        pthread_mutex_destroy(&d->sync_mu);
        bad = 1;
    }
    pthread_condattr_destroy(&ca);
    if (bad) {
        free(d);
        return NULL;
    }
    d->fd = -1;
    return d;
}

void cxb_durable_free(cxb_durable *d)
{
    if (!d)
        return;
    if (d->fd >= 0)
        close(d->fd);
    pthread_cond_destroy(&d->cv);
    pthread_mutex_destroy(&d->sync_mu);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

int cxb_durable_attach(cxb_durable *d, int fd, char *err, size_t errlen)
{
    int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dup_fd < 0) {
        snprintf(err, errlen, "journal: cannot keep the file open for syncing: %s", strerror(errno));
        return -1;
    }
    pthread_mutex_lock(&d->mu);
    if (d->fd >= 0)
        close(d->fd);
    d->fd = dup_fd;
    pthread_mutex_unlock(&d->mu);
    return 0;
}

void cxb_durable_written(cxb_durable *d, uint64_t index)
{
    pthread_mutex_lock(&d->mu);
    if (index > d->written) {
        d->written = index;
        pthread_cond_broadcast(&d->cv);
    }
    pthread_mutex_unlock(&d->mu);
}

/* Syncs everything written so far, unless another worker's sync already covered `index`. */
static void durable_sync(cxb_durable *d, uint64_t index)
{
    pthread_mutex_lock(&d->sync_mu);
    pthread_mutex_lock(&d->mu);
    uint64_t upto = d->written;
    int covered = d->synced >= index || d->failed;
    pthread_mutex_unlock(&d->mu);
    if (!covered) {
        int rc = fdatasync(d->fd) == 0 ? 0 : (errno ? errno : EIO);
        pthread_mutex_lock(&d->mu);
        if (rc)
            d->failed = rc;
        else if (upto > d->synced)
            d->synced = upto;
        pthread_mutex_unlock(&d->mu);
    }
    pthread_mutex_unlock(&d->sync_mu);
}

int cxb_durable_wait(cxb_durable *d, uint64_t index, const atomic_int *cancel, char *err, size_t errlen)
{
    pthread_mutex_lock(&d->mu);
    while (d->fd >= 0 && !d->failed && d->synced < index) {
        if (cancel && atomic_load(cancel)) {
            pthread_mutex_unlock(&d->mu);
            return 1;
        }
        if (d->written < index) { /* the owner writes the intent right after the submit */
            struct timespec ts = cxb_deadline_ts(0.05);
            pthread_cond_timedwait(&d->cv, &d->mu, &ts);
            continue;
        }
        pthread_mutex_unlock(&d->mu);
        durable_sync(d, index);
        pthread_mutex_lock(&d->mu);
    }
    int failed = d->failed;
    pthread_mutex_unlock(&d->mu);
    if (failed) {
        snprintf(err, errlen, "cannot sync the journal: %s; nothing more is sent", strerror(failed));
        return -1;
    }
    return 0;
}
