/* Unit tests for src/common/text_fit.c: a message cut to its buffer ends between words with "...". */
#include "check.h"

#include "common/text_fit.h"

#include <stdio.h>
#include <string.h>

/* Formats text into a buffer of len bytes and fits it, as the callers do. */
static void fit(char *buf, size_t len, const char *text)
{
    int n = snprintf(buf, len, "%s", text);
    cxb_text_fit(buf, len, n);
}

int main(void)
{
    char buf[32];
    fit(buf, sizeof buf, "short enough");
    CHECK_STR(buf, "short enough");

    /* 31 bytes fit: exactly that is kept as it is. */
    fit(buf, sizeof buf, "0123456789 0123456789 012345678");
    CHECK_STR(buf, "0123456789 0123456789 012345678");

    fit(buf, sizeof buf, "Redis unreachable for 30 s (connect: Connection refused)");
    CHECK_STR(buf, "Redis unreachable for 30 s...");
    CHECK(strlen(buf) < sizeof buf, "%zu bytes", strlen(buf));

    /* Punctuation before the cut goes with it. */
    fit(buf, sizeof buf, "shared limit 'x': state, file reset it now please");
    CHECK_STR(buf, "shared limit 'x': state...");

    /* One long word: cut at a character boundary, never inside a UTF-8 sequence. */
    fit(buf, sizeof buf, "caf\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
    CHECK(strlen(buf) <= sizeof buf - 1, "%zu bytes", strlen(buf));
    CHECK(strcmp(buf + strlen(buf) - 3, "...") == 0, "ends %s", buf);
    size_t body = strlen(buf) - 3;
    CHECK(((unsigned char)buf[body - 1] & 0xC0) == 0x80, "cut inside a character: %s", buf);

    /* A space too near the start is not used: the word is cut instead of losing the text. */
    fit(buf, sizeof buf, "a bcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP");
    CHECK_STR(buf, "a bcdefghijklmnopqrstuvwxyzA...");

    /* Nothing happens to a text that was not cut, or with a tiny buffer or an error. */
    char tiny[4] = "abc";
    cxb_text_fit(tiny, sizeof tiny, 10);
    CHECK_STR(tiny, "abc");
    char same[16] = "kept";
    cxb_text_fit(same, sizeof same, -1);
    CHECK_STR(same, "kept");
    return check_finish();
}
