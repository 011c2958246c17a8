/* Small helpers shared by the mock server: clocks, a lock-free RNG, hashing,
 * percent/base64 decoding and string checks. Nothing here keeps global state. */
#ifndef CXONE_MOCK_UTIL_H
#define CXONE_MOCK_UTIL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t mono_ns(void);
/* Monotonic seconds since an arbitrary origin: the clock of tokens, idempotency and the limiter. */
double mock_now(void);
/* Wall clock (CLOCK_REALTIME) in milliseconds since the Unix epoch. */
int64_t unix_ms(void);
/* "2025-01-31T12:00:00.123Z" (at most 31 bytes with the NUL). */
void format_iso8601_ms(int64_t ms, char out[32]);
/* IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110 §5.6.7). */
void format_http_date(time_t t, char out[40]);

/* splitmix64 over an atomic counter: thread-safe without a lock, owned by its user. */
struct rng {
    _Atomic uint64_t state;
};
int rng_init(struct rng *r);           /* seeds from getrandom(); 0 or -1 */
uint64_t rng_next(struct rng *r);
double rng_unit(struct rng *r);        /* uniform in [0, 1) */
bool rng_chance(struct rng *r, double p); /* true with probability p; p <= 0 never, p >= 1 always */
int random_fill(void *buf, size_t n);  /* getrandom(), retried on EINTR; 0 or -1 */

/* Multiplicative word hash with a splitmix finaliser: fast, well spread, not cryptographic. */
#define HASH_INIT 0xcbf29ce484222325ULL
uint64_t hash_update(uint64_t h, const void *p, size_t n);
uint64_t hash_finish(uint64_t h);
uint64_t hash_bytes(const void *p, size_t n);

/* Decodes %XX escapes of in[0..len) into out (which must hold len bytes); '+' becomes
 * a space when plus_as_space. Returns the decoded length, or -1 on a malformed escape. */
long pct_decode(const char *in, size_t len, char *out, bool plus_as_space);
/* Standard-alphabet base64 (padding optional). Returns decoded length or -1 when the
 * input is not base64 or does not fit in cap bytes. */
long base64_decode(const char *in, size_t len, unsigned char *out, size_t cap);
/* base64url without padding; out must hold 4*ceil(len/3)+1 bytes. */
void base64url_encode(const unsigned char *in, size_t len, char *out);

bool has_control_chars(const char *s, size_t n); /* bytes < 0x20 or 0x7f */
/* Well-formed UTF-8 (no overlongs, surrogates or code points above U+10FFFF). */
bool utf8_valid(const char *s, size_t n);
/* Compare without an early exit on the first differing byte (credentials). */
bool ct_equal(const char *a, size_t alen, const char *b, size_t blen);
/* Case-insensitive ASCII prefix test. */
bool has_prefix_ci(const char *s, const char *prefix);

/* Loads a JSON document from path (flag names it in errors, e.g. "--skills"), or from builtin
 * when path is NULL (what names it then); duplicate keys are refused. NULL with err set on
 * failure, naming the file and line. */
struct json_t;
struct json_t *load_json_doc(const char *flag, const char *path, const char *builtin, const char *what,
                             char *err, size_t errlen);

#endif
