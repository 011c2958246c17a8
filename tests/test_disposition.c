/* Unit tests for the set-disposition body and the read-back check (src/profile/disposition.c). */
#include "check.h"

#include "profile/disposition.h"

#include <stdlib.h>
#include <string.h>

#define ERRLEN 256

static void check_body(const struct cxb_disposition *d, const char *want)
{
    char err[ERRLEN] = "";
    size_t len = 0;
    char *b = cxb_disposition_body(d, &len, err, sizeof err);
    CHECK_STR(b, want);
    CHECK(b == NULL || len == strlen(b), "len %zu", len);
    free(b);
}

static void test_body(void)
{
    struct cxb_disposition d = {.skill = "1001", .disposition_code = "2"};
    check_body(&d, "{\"dispositionInfo\":{\"skill\":\"1001\",\"dispositionCode\":\"2\"}}");
    /* Every field, given in a scrambled order in the struct initialiser: the body order is fixed. */
    struct cxb_disposition all = {.commitment_amount = "12.50", .callback_time = "2026-12-01T10:00:00Z",
                                  .notes = "said \"later\"\n ü", .callback_number = "+15551234567",
                                  .disposition_code = "Callback Requested", .skill = "1001"};
    check_body(&all, "{\"dispositionInfo\":{\"skill\":\"1001\",\"dispositionCode\":\"Callback Requested\","
                     "\"notes\":\"said \\\"later\\\"\\n ü\",\"callbackNumber\":\"+15551234567\","
                     "\"callbackTime\":\"2026-12-01T10:00:00Z\",\"commitmentAmount\":\"12.50\"}}");
    /* Same task, same bytes. */
    size_t l1, l2;
    char err[ERRLEN];
    char *a = cxb_disposition_body(&all, &l1, err, sizeof err);
    char *b = cxb_disposition_body(&all, &l2, err, sizeof err);
    CHECK(a && b && l1 == l2 && memcmp(a, b, l1) == 0, "bodies differ");
    free(a);
    free(b);
    /* An empty optional field is sent as given (the API decides what "" means). */
    struct cxb_disposition empty_notes = {.skill = "1001", .disposition_code = "2", .notes = ""};
    check_body(&empty_notes, "{\"dispositionInfo\":{\"skill\":\"1001\",\"dispositionCode\":\"2\",\"notes\":\"\"}}");
}

static void check_body_error(const struct cxb_disposition *d, const char *want_in_err)
{
    char err[ERRLEN] = "";
    size_t len = 0;
    char *b = cxb_disposition_body(d, &len, err, sizeof err);
    CHECK(b == NULL, "expected an error, got %s", b ? b : "");
    CHECK(strstr(err, want_in_err) != NULL, "error \"%s\" lacks \"%s\"", err, want_in_err);
    free(b);
}

static void test_body_errors(void)
{
    check_body_error(&(struct cxb_disposition){.disposition_code = "2"}, "skill is required");
    check_body_error(&(struct cxb_disposition){.skill = "", .disposition_code = "2"}, "skill is required");
    check_body_error(&(struct cxb_disposition){.skill = "1001"}, "disposition_code is required");
    check_body_error(&(struct cxb_disposition){.skill = "1001", .disposition_code = "2", .notes = "bad \xff"},
                     "notes is not valid UTF-8");
    check_body_error(&(struct cxb_disposition){.skill = "1001", .disposition_code = "2", .callback_number = "\xc0"},
                     "callback_number is not valid UTF-8");
}

static enum cxb_disposition_check cmp(const char *resp, const char *code, const char *notes)
{
    struct cxb_disposition want = {.skill = "1001", .disposition_code = code, .notes = notes};
    char err[ERRLEN];
    return cxb_disposition_compare(resp, strlen(resp), &want, err, sizeof err);
}

static void test_compare(void)
{
    const char *rb = "{\"dispositionId\":2,\"dispositionName\":\"Callback Requested\",\"notes\":\"hi\","
                     "\"lastUpdated\":\"2026-12-01T14:46:23.109Z\"}";
    CHECK(cmp(rb, "2", NULL) == CXB_DISP_MATCHES, "by id");
    CHECK(cmp(rb, "Callback Requested", NULL) == CXB_DISP_MATCHES, "by name");
    CHECK(cmp(rb, "2", "hi") == CXB_DISP_MATCHES, "with notes");
    CHECK(cmp(rb, "2", "other") == CXB_DISP_DIFFERS, "other notes");
    CHECK(cmp(rb, "2", "") == CXB_DISP_DIFFERS, "notes wanted empty, read-back has some");
    CHECK(cmp(rb, "3", NULL) == CXB_DISP_DIFFERS, "other id");
    CHECK(cmp(rb, "callback requested", NULL) == CXB_DISP_DIFFERS, "names compare exactly");
    CHECK(cmp(rb, "02", NULL) == CXB_DISP_DIFFERS, "\"02\" is not the id 2");
    CHECK(cmp("{\"dispositionId\":\"7\"}", "7", NULL) == CXB_DISP_MATCHES, "id as a string");
    CHECK(cmp("{\"dispositionId\":2}", "2", "") == CXB_DISP_MATCHES, "notes wanted empty, none in read-back");
    CHECK(cmp("{\"dispositionId\":2}", "2", "x") == CXB_DISP_DIFFERS, "notes wanted, none in read-back");
    CHECK(cmp("{}", "2", NULL) == CXB_DISP_NONE, "empty object");
    CHECK(cmp("", "2", NULL) == CXB_DISP_NONE, "empty body");
    CHECK(cmp("{\"dispositionId\":null,\"dispositionName\":null}", "2", NULL) == CXB_DISP_NONE, "nulls");
    CHECK(cmp("[]", "2", NULL) == CXB_DISP_INVALID, "array");
    CHECK(cmp("<html>", "2", NULL) == CXB_DISP_INVALID, "not JSON");
    char err[ERRLEN] = "";
    struct cxb_disposition nocode = {.skill = "1001"};
    CHECK(cxb_disposition_compare("{}", 2, &nocode, err, sizeof err) == CXB_DISP_INVALID, "no code");
    CHECK(strstr(err, "disposition_code") != NULL, "%s", err);
}

int main(void)
{
    test_body();
    test_body_errors();
    test_compare();
    return check_finish();
}
