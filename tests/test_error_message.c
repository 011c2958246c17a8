/* Unit tests for cxb_http_error_message (src/net/http.c): secrets are redacted over the whole server
 * text before the message is cut to its buffer, so an echo that straddles the cut leaves nothing. */
#include "check.h"

#include "net/http.h"
#include "common/redact.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fill(char *s, size_t n, unsigned seed)
{
    static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        s[i] = alpha[(seed >> 16) % (sizeof alpha - 1)];
    }
    s[n] = '\0';
}

/* Counts bytes of out that are bytes of the secret at the same relative place as in the echo:
 * any surviving character of the secret right after the prefix. */
static size_t secret_bytes_kept(const char *out, size_t prefix_len, const char *secret)
{
    size_t n = 0, ol = strlen(out);
    for (size_t i = prefix_len; i < ol && secret[i - prefix_len]; i++)
        n += out[i] == secret[i - prefix_len];
    return n;
}

/* A JSON message echoing a 380-byte token, with the echo starting at every offset around the
 * 399-byte cut: no byte of the token may be left, however few fall before the cut. */
static void test_json_echo_across_the_cut(void)
{
    char tok[381], body[2048], pad[400], out[400];
    fill(tok, 380, 9);
    const char *const secrets[] = {tok};
    for (size_t padn = 0; padn < 399; padn += 7) {
        memset(pad, 'p', padn);
        pad[padn] = '\0';
        snprintf(body, sizeof body, "{\"message\":\"%s%s and more text after it\"}", pad, tok);
        cxb_http_error_message(body, strlen(body), secrets, 1, out, sizeof out);
        CHECK(strlen(out) == (padn + 380 + 24 < 399 ? padn + 380 + 24 : 399), "pad %zu: length %zu", padn, strlen(out));
        CHECK(secret_bytes_kept(out, padn, tok) == 0, "pad %zu: %zu token bytes kept", padn,
              secret_bytes_kept(out, padn, tok));
        CHECK(strncmp(out, pad, padn) == 0, "pad %zu: text before the echo changed", padn);
    }
}

/* A body that is not JSON: the message is its first 200 bytes, redacted over what follows too. */
static void test_plain_body_echo_across_the_cut(void)
{
    char sec[201], body[1024], out[256];
    fill(sec, 200, 10);
    const char *const secrets[] = {NULL, sec};
    for (size_t padn = 0; padn < 200; padn += 9) {
        memset(body, '#', padn);
        snprintf(body + padn, sizeof body - padn, "%s trailing", sec);
        cxb_http_error_message(body, strlen(body), secrets, 2, out, sizeof out);
        CHECK(strlen(out) == 200, "pad %zu: length %zu", padn, strlen(out));
        CHECK(secret_bytes_kept(out, padn, sec) == 0, "pad %zu: %zu secret bytes kept", padn,
              secret_bytes_kept(out, padn, sec));
    }
}

/* Without secrets, and for error_description / error, the message is what it was. */
static void test_plain_messages(void)
{
    char out[64];
    const char *b1 = "{\"error\":\"invalid_client\",\"error_description\":\"bad credentials\"}";
    cxb_http_error_message(b1, strlen(b1), NULL, 0, out, sizeof out);
    CHECK_STR(out, "bad credentials");
    const char *b2 = "{\"error\":\"invalid_client\"}";
    cxb_http_error_message(b2, strlen(b2), NULL, 0, out, sizeof out);
    CHECK_STR(out, "invalid_client");
    const char *b3 = "<html>\n<b>oops</b>";
    cxb_http_error_message(b3, strlen(b3), NULL, 0, out, sizeof out);
    CHECK_STR(out, "<html> <b>oops</b>");
}

int main(void)
{
    test_json_echo_across_the_cut();
    test_plain_body_echo_across_the_cut();
    test_plain_messages();
    return check_finish();
}
