#include "engine/queue.h"
#include <stdlib.h>

int cxb_queue_init(cxb_queue *q, size_t cap)
{
    q->head = q->len = 0;
    q->cap = cap ? cap : 1;
    q->slots = calloc(q->cap, sizeof *q->slots);
    return q->slots ? 0 : -1;
}

int cxb_queue_push(cxb_queue *q, void *item)
{
    if (q->len == q->cap)
        return -1;
    q->slots[(q->head + q->len) % q->cap] = item;
    q->len++;
    return 0;
}

void *cxb_queue_pop(cxb_queue *q)
{
    if (q->len == 0)
        return NULL;
    void *item = q->slots[q->head];
    q->slots[q->head] = NULL;
    q->head = (q->head + 1) % q->cap;
    q->len--;
    return item;
}

void cxb_queue_destroy(cxb_queue *q)
{
    free(q->slots);
    q->slots = NULL;
    q->cap = q->len = q->head = 0;
}
