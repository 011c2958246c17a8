/* The write-ahead barrier of a journaled job: no task's first request leaves before the
 * journal's intent record for it is on disk.
 *
 * The owner (Lua) appends intent records for the tasks it submits, flushes them to the file in
 * one write per feed, and then says up to which task index they are written. A worker about to
 * send a task's first request waits until that index is written, then makes the file durable
 * with one fdatasync that covers every task written so far (group commit: at 45 requests/s one
 * sync serves several tasks, and the owner's thread — an nginx event loop — never syncs). */
#ifndef CXB_DURABLE_H
#define CXB_DURABLE_H
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cxb_durable cxb_durable;

/* A barrier with no file: every wait returns at once until one is attached. NULL on OOM. */
cxb_durable *cxb_durable_new(void);
void cxb_durable_free(cxb_durable *d);

/* Attaches a duplicate of fd (the journal, opened by the owner). 0, or -1 with a message. */
int cxb_durable_attach(cxb_durable *d, int fd, char *err, size_t errlen);

/* Owner: the intent records of every task up to `index` are written to the file. */
void cxb_durable_written(cxb_durable *d, uint64_t index);

/* Worker: returns 0 once the intent of task `index` is durable, 1 when *cancel was set first,
 * -1 with a message when the file could not be synced (the batch must stop). */
int cxb_durable_wait(cxb_durable *d, uint64_t index, const atomic_int *cancel, char *err, size_t errlen);
#endif
