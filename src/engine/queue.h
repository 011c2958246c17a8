/* A fixed-capacity FIFO ring of pointers: the worker pool's task queue (pool.c, `items`). Not
 * synchronised: the pool guards it with its own mutex, so one lock covers the queue and the
 * outstanding count that must change with it. */
#ifndef CXB_QUEUE_H
#define CXB_QUEUE_H
#include <stddef.h>

typedef struct cxb_queue {
    void **slots;
    size_t cap, head, len;
} cxb_queue;

int cxb_queue_init(cxb_queue *q, size_t cap);     /* cap 0 is 1; 0, or -1 on allocation failure */
int cxb_queue_push(cxb_queue *q, void *item);     /* 0, or -1 when full */
void *cxb_queue_pop(cxb_queue *q);                /* NULL when empty */
static inline size_t cxb_queue_len(const cxb_queue *q) { return q->len; }
void cxb_queue_destroy(cxb_queue *q);             /* frees the slots, not the items */
#endif
