/* One background thread that (1) resumes suspended MHD connections when their delayed
 * answer is due — so latency and late answers never block a worker thread — and
 * (2) runs a housekeeping callback about once a second. */
#ifndef CXONE_MOCK_DELAYER_H
#define CXONE_MOCK_DELAYER_H

#include <microhttpd.h>
#include <stdint.h>

struct delayer;

struct delayer *delayer_start(void (*tick)(void *), void *tick_arg);
/* Resumes c at due_ns (CLOCK_MONOTONIC). -1 when stopping or out of memory: the
 * caller must then resume c itself. */
int delayer_add(struct delayer *d, uint64_t due_ns, struct MHD_Connection *c);
/* Resumes every pending connection now and joins the thread; later delayer_add calls
 * fail. d stays valid until delayer_free (workers may still call delayer_add). */
void delayer_halt(struct delayer *d);
void delayer_free(struct delayer *d);

#endif
