/* Unit tests for Idempotency-Key derivation (src/profile/idempotency.c). */
#include "check.h"

#include "profile/idempotency.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void key3(const char *b, const char *c, const char *body, char out[CXB_KEY_LEN + 1])
{
    cxb_idempotency_key(b, strlen(b), c, strlen(c), body, strlen(body), out);
}

static int canonical(const char *k)
{
    if (strlen(k) != CXB_KEY_LEN) return 0;
    for (int i = 0; i < CXB_KEY_LEN; i++) {
        char ch = k[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (ch != '-') return 0;
        } else if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) {
            return 0;
        }
    }
    /* Version 5 (SHA-1 name-based), RFC 4122/9562 variant. */
    return k[14] == '5' && strchr("89ab", k[19]) != NULL;
}

/* Expected keys computed independently of libuuid, from the documented encoding, with
 * Python's hashlib: sha1(namespace bytes + name)[:16], version and variant bits set. */
static void test_known_answers(void)
{
    char k[CXB_KEY_LEN + 1];
    key3("batch-2024-06-01", "123456789",
         "{\"outcome\":{\"category\":\"Sale\",\"subcategory\":\"Upsell\"}}", k);
    CHECK_STR(k, "533689fa-f9e2-5944-955e-b8a4e3181d9e");
    cxb_idempotency_key(NULL, 0, NULL, 0, NULL, 0, k);
    CHECK_STR(k, "8c0c3753-cdbc-52fb-8264-e72c9719228f");
    /* A body over the inline limit goes through the field digest. */
    size_t n = 5000;
    char *body = malloc(n);
    if (!body) abort();
    for (size_t i = 0; i < n; i++) body[i] = (char)((i * 7 + 3) & 0xff);
    cxb_idempotency_key("b", 1, "c", 1, body, n, k);
    CHECK_STR(k, "7bb0f9fc-b6e0-5cb7-8f85-fdf7cebcffb6");
    free(body);
}

static void test_determinism_and_format(void)
{
    char a[CXB_KEY_LEN + 1], b[CXB_KEY_LEN + 1];
    key3("batch-1", "42", "{\"outcome\":{}}", a);
    key3("batch-1", "42", "{\"outcome\":{}}", b);
    CHECK_STR(a, b);
    CHECK(canonical(a), "not a canonical lower-case v5 UUID: %s", a);
    /* Same bytes from different buffers give the same key. */
    char buf[] = "xx42xx";
    cxb_idempotency_key("batch-1", 7, buf + 2, 2, "{\"outcome\":{}}", 14, b);
    CHECK_STR(b, a);
    /* NULL with length 0 is the empty field. */
    cxb_idempotency_key("", 0, "", 0, "", 0, a);
    cxb_idempotency_key(NULL, 0, NULL, 0, NULL, 0, b);
    CHECK_STR(a, b);
}

static int cmp_keys(const void *x, const void *y) { return memcmp(x, y, CXB_KEY_LEN + 1); }

static void test_uniqueness(void)
{
    enum { N = 100000 };
    char(*keys)[CXB_KEY_LEN + 1] = malloc(N * sizeof *keys);
    if (!keys) abort();
    int bad_format = 0;
    for (int i = 0; i < N; i++) {
        char contact[24];
        int len = snprintf(contact, sizeof contact, "%d", i);
        cxb_idempotency_key("batch", 5, contact, (size_t)len, "{}", 2, keys[i]);
        bad_format += !canonical(keys[i]);
    }
    CHECK(bad_format == 0, "%d keys not canonical", bad_format);
    qsort(keys, N, sizeof *keys, cmp_keys);
    int dup = 0;
    for (int i = 1; i < N; i++) dup += memcmp(keys[i - 1], keys[i], CXB_KEY_LEN) == 0;
    CHECK(dup == 0, "%d duplicate keys among %d contacts", dup, N);
    free(keys);
}

/* Moving bytes across a field boundary must change the key. */
static void test_field_boundaries(void)
{
    const char *triples[][3] = {
        { "ab", "c", "" }, { "a", "bc", "" }, { "abc", "", "" }, { "", "abc", "" },
        { "", "", "abc" }, { "a", "b", "c" }, { "ab", "", "c" }, { "", "ab", "c" },
        { "a", "", "bc" }, { "", "a", "bc" },
    };
    size_t n = sizeof triples / sizeof *triples;
    char keys[sizeof triples / sizeof *triples][CXB_KEY_LEN + 1];
    for (size_t i = 0; i < n; i++) key3(triples[i][0], triples[i][1], triples[i][2], keys[i]);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            CHECK(strcmp(keys[i], keys[j]) != 0, "(%s|%s|%s) and (%s|%s|%s) share key %s",
                  triples[i][0], triples[i][1], triples[i][2], triples[j][0], triples[j][1],
                  triples[j][2], keys[i]);
}

/* Around the 1024-byte inline limit and far beyond it: deterministic, and a one-byte change
 * anywhere (in every field) changes the key. */
static void test_long_fields(void)
{
    const size_t sizes[] = { 1023, 1024, 1025, 4096, 1 << 20 };
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        size_t n = sizes[s];
        char *f = malloc(n);
        if (!f) abort();
        memset(f, 'q', n);
        for (int field = 0; field < 3; field++) {
            const char *p[3] = { "batch", "contact", "{}" };
            size_t len[3] = { 5, 7, 2 };
            p[field] = f;
            len[field] = n;
            char a[CXB_KEY_LEN + 1], b[CXB_KEY_LEN + 1], c[CXB_KEY_LEN + 1];
            cxb_idempotency_key(p[0], len[0], p[1], len[1], p[2], len[2], a);
            cxb_idempotency_key(p[0], len[0], p[1], len[1], p[2], len[2], b);
            CHECK(strcmp(a, b) == 0, "field %d of %zu bytes: keys differ", field, n);
            f[n - 1] = 'r';
            cxb_idempotency_key(p[0], len[0], p[1], len[1], p[2], len[2], c);
            f[n - 1] = 'q';
            CHECK(strcmp(a, c) != 0, "field %d of %zu bytes: last byte ignored", field, n);
            len[field] = n - 1; /* the same bytes minus one: a different field */
            cxb_idempotency_key(p[0], len[0], p[1], len[1], p[2], len[2], c);
            CHECK(strcmp(a, c) != 0, "field %d: %zu and %zu bytes collide", field, n, n - 1);
            CHECK(canonical(a), "field %d of %zu bytes: %s not canonical", field, n, a);
        }
        free(f);
    }
}

int main(void)
{
    test_known_answers();
    test_determinism_and_format();
    test_uniqueness();
    test_field_boundaries();
    test_long_fields();
    return check_finish();
}
