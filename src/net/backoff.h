/* Retry timing: full-jitter exponential backoff and Retry-After parsing. */
#ifndef CXB_BACKOFF_H
#define CXB_BACKOFF_H
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Full jitter (AWS architecture blog): uniform in [0, min(cap, base * 2^retry)].
 * retry is 0 for the first retry. *rng is caller-owned xorshift state (non-zero). */
double cxb_backoff_delay(double base, double cap, int retry, uint64_t *rng);

/* Seeds an rng state from the clock, the thread and the given salt; never returns 0. */
uint64_t cxb_rng_seed(uint64_t salt);

/* Parses a Retry-After value (RFC 9110 §10.2.3): delta-seconds or an HTTP-date, surrounding
 * whitespace allowed. value need not be NUL-terminated. On success returns 0 and stores the
 * wait in seconds (>= 0; dates in the past give 0; capped at 86400). Returns -1 for anything
 * else (empty, negative, garbage, overflow). now_wall is the current time(NULL). */
int cxb_retry_after_parse(const char *value, size_t len, time_t now_wall, double *seconds);
#endif
