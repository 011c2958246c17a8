/* Unit tests for the redactor (src/common/redact.c): whole secrets and every run of CXB_REDACT_RUN or
 * more consecutive bytes of one are masked wherever they appear, cut-off echoes included. */
#include "check.h"

#include "common/redact.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define RUN 16 /* the rule under test: no run of 16 bytes of a secret may survive */

/* A deterministic pseudo-random bearer-token-like string (0x21..0x7e without '*'). */
static void fill_secret(char *s, size_t n, uint32_t seed)
{
    static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/=";
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        s[i] = alpha[(seed >> 16) % (sizeof alpha - 1)];
    }
    s[n] = '\0';
}

/* The longest run of consecutive bytes of needle found anywhere in s. */
static size_t longest_run(const char *s, const char *needle)
{
    size_t best = 0, sl = strlen(s), nl = strlen(needle);
    for (size_t i = 0; i < sl; i++)
        for (size_t k = 0; k < nl; k++) {
            size_t m = 0;
            while (i + m < sl && k + m < nl && s[i + m] == needle[k + m])
                m++;
            if (m > best)
                best = m;
        }
    return best;
}

static size_t count_char(const char *s, char c)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == c;
    return n;
}

static void test_whole_and_short(void)
{
    const char *needles[] = {"hunter2-secret", NULL, "abc"};
    char s[] = "x hunter2-secret y hunter2-secret abc";
    cxb_redact(s, needles, 3);
    CHECK_STR(s, "x ************** y ************** abc"); /* 3 bytes: below CXB_REDACT_MIN */
    char same[] = "nothing to hide here";
    cxb_redact(same, needles, 3);
    CHECK_STR(same, "nothing to hide here");
}

/* An echo cut at the end of the message (the server or a buffer truncated it). */
static void test_prefix_cut(void)
{
    char tok[381], s[512];
    fill_secret(tok, 380, 1);
    for (size_t keep = RUN; keep <= 380; keep += 41) {
        snprintf(s, sizeof s, "HTTP 400: rejected Authorization: Bearer %.*s", (int)keep, tok);
        const char *needles[] = {tok};
        cxb_redact(s, needles, 1);
        CHECK(longest_run(s, tok) < RUN, "keep %zu: a run of %zu bytes survived", keep, longest_run(s, tok));
        CHECK(count_char(s, '*') == keep, "keep %zu: %zu masked", keep, count_char(s, '*'));
        CHECK(strncmp(s, "HTTP 400: rejected Authorization: Bearer ", 41) == 0, "text around kept: %s", s);
    }
}

/* An echo whose start was cut off (the message begins inside the token). */
static void test_suffix_cut(void)
{
    char tok[381], s[512];
    fill_secret(tok, 380, 2);
    for (size_t from = 0; from + RUN <= 380; from += 37) {
        snprintf(s, sizeof s, "%s\" (trailer)", tok + from);
        const char *needles[] = {tok};
        cxb_redact(s, needles, 1);
        CHECK(longest_run(s, tok) < RUN, "from %zu: a run survived", from);
        CHECK(strcmp(s + (380 - from), "\" (trailer)") == 0, "from %zu: trailer changed: %s", from, s);
    }
}

/* A piece from the middle; and the boundary: 15 bytes are left, 16 are masked. */
static void test_middle_run_and_boundary(void)
{
    char tok[381], s[256];
    fill_secret(tok, 380, 3);
    const char *needles[] = {tok};
    snprintf(s, sizeof s, "<<%.30s>>", tok + 100);
    cxb_redact(s, needles, 1);
    CHECK_STR(s, "<<******************************>>");
    snprintf(s, sizeof s, "<<%.16s>>", tok + 200);
    cxb_redact(s, needles, 1);
    CHECK_STR(s, "<<****************>>");
    snprintf(s, sizeof s, "<<%.15s>>", tok + 200);
    char want[64];
    snprintf(want, sizeof want, "<<%.15s>>", tok + 200);
    cxb_redact(s, needles, 1);
    CHECK_STR(s, want);
    /* Two pieces of the same token side by side, and one at the very start and end. */
    snprintf(s, sizeof s, "%.20s|%.20s", tok, tok + 360);
    cxb_redact(s, needles, 1);
    CHECK_STR(s, "********************|********************");
}

/* The case: a 380-byte token echoed inside a 2 KB body. */
static void test_token_in_2k_body(void)
{
    char tok[381];
    fill_secret(tok, 380, 4);
    char *s = malloc(2049);
    CHECK(s != NULL, "malloc");
    if (!s)
        return;
    memset(s, 'x', 2048);
    s[2048] = '\0';
    memcpy(s + 1000, tok, 380);
    const char *needles[] = {tok};
    cxb_redact(s, needles, 1);
    CHECK(count_char(s, '*') == 380, "%zu masked", count_char(s, '*'));
    CHECK(count_char(s, 'x') == 2048 - 380, "padding changed");
    CHECK(longest_run(s, tok) < RUN, "a run survived");
    free(s);
}

/* A 200-byte client secret, several forms at once, overlapping needles. */
static void test_secret_200(void)
{
    char sec[201], enc[201], s[1024];
    fill_secret(sec, 200, 5);
    memcpy(enc, sec, sizeof enc);
    enc[50] = '%'; /* a second needle sharing most of the first */
    snprintf(s, sizeof s, "invalid_client: client_secret=%.150s | %.120s | %s", enc + 10, sec + 70, sec);
    const char *needles[] = {sec, enc};
    cxb_redact(s, needles, 2);
    CHECK(longest_run(s, sec) < RUN, "a run of the secret survived (%zu)", longest_run(s, sec));
    CHECK(longest_run(s, enc) < RUN, "a run of the encoded secret survived");
    CHECK(strncmp(s, "invalid_client: client_secret=", 30) == 0, "prefix changed: %s", s);
}

/* Needles with repeated 16-byte windows, and text shorter than a run. */
static void test_repetitive_and_tiny(void)
{
    const char *needles[] = {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
    char s[] = "baaaaaaaaaaaaaaaaaab aaaaaaaaaaaaaaaa aaaaaaaaaaaaaaa";
    cxb_redact(s, needles, 1);
    CHECK_STR(s, "b******************b **************** aaaaaaaaaaaaaaa");
    char tiny[] = "short";
    cxb_redact(tiny, needles, 1);
    CHECK_STR(tiny, "short");
    char empty[] = "";
    cxb_redact(empty, needles, 1);
    CHECK_STR(empty, "");
}

/* Random texts mixing pieces of a needle with noise, against the rule stated directly: a byte is
 * masked exactly when it lies in some 16-byte window of the text that occurs in the needle. */
static void test_against_reference(void)
{
    char needle[301], text[1201], want[1201];
    uint32_t seed = 77;
    for (int round = 0; round < 300; round++) {
        size_t nl = 16 + (size_t)(round * 7 % 285);
        fill_secret(needle, nl, (uint32_t)round + 100);
        size_t tl = 0;
        while (tl < 1100) {
            seed = seed * 1103515245u + 12345u;
            size_t piece = 1 + (seed >> 8) % 40, from = (seed >> 4) % nl;
            if (from + piece > nl)
                piece = nl - from;
            if ((seed >> 20) & 1)
                memcpy(text + tl, needle + from, piece);
            else
                fill_secret(text + tl, piece, seed);
            tl += piece;
        }
        text[tl] = '\0';
        memcpy(want, text, tl + 1);
        for (size_t i = 0; i + RUN <= tl; i++) {
            int hit = 0;
            for (size_t k = 0; k + RUN <= nl && !hit; k++)
                hit = memcmp(text + i, needle + k, RUN) == 0;
            if (hit)
                memset(want + i, '*', RUN);
        }
        const char *needles[] = {needle};
        cxb_redact(text, needles, 1);
        CHECK(strcmp(text, want) == 0, "round %d: differs from the reference", round);
    }
}

int main(void)
{
    test_whole_and_short();
    test_prefix_cut();
    test_suffix_cut();
    test_middle_run_and_boundary();
    test_token_in_2k_body();
    test_secret_200();
    test_repetitive_and_tiny();
    test_against_reference();
    return check_finish();
}
