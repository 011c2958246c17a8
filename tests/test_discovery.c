/* Unit tests for the cxone profile's discovery functions (src/net/discovery.c). */
#include "check.h"

#include "net/discovery.h"

#include <stdlib.h>
#include <string.h>

#define ERRLEN 256

static char *token_ep(const char *doc, char *err)
{
    err[0] = '\0';
    return cxb_discovery_token_endpoint(doc, strlen(doc), err, ERRLEN);
}

static char *api_base(const char *doc, char *err)
{
    err[0] = '\0';
    return cxb_discovery_api_base(doc, strlen(doc), err, ERRLEN);
}

static char *tenant(const char *jwt, char *err)
{
    err[0] = '\0';
    return cxb_jwt_tenant_id(jwt, strlen(jwt), err, ERRLEN);
}

static void check_null_with(char *got, const char *err, const char *want_in_err)
{
    CHECK(got == NULL, "expected failure, got \"%s\"", got ? got : "");
    CHECK(strstr(err, want_in_err) != NULL, "error \"%s\" lacks \"%s\"", err, want_in_err);
    free(got);
}

static void test_urls(void)
{
    char *u = cxb_openid_config_url(CXB_DEFAULT_ISSUER);
    CHECK_STR(u, "https://cxone.niceincontact.com/.well-known/openid-configuration");
    free(u);
    u = cxb_openid_config_url("http://127.0.0.1:8080//");
    CHECK_STR(u, "http://127.0.0.1:8080/.well-known/openid-configuration");
    free(u);
    u = cxb_cxone_config_url("https://cxone.niceincontact.com/", "11ee-ab cd&x");
    CHECK_STR(u, "https://cxone.niceincontact.com/.well-known/cxone-configuration?tenantId=11ee-ab%20cd%26x");
    free(u);
    u = cxb_cxone_api_url("https://api-na1.niceincontact.com/", "v33.0", "contacts", "a/b 1", "set-disposition");
    CHECK_STR(u, "https://api-na1.niceincontact.com/incontactapi/services/v33.0/contacts/a%2Fb%201/set-disposition");
    free(u);
}

static void test_token_endpoint(void)
{
    char err[ERRLEN];
    char *u = token_ep("{\"issuer\":\"https://cxone.niceincontact.com\","
                       "\"token_endpoint\":\"https://cxone.niceincontact.com/auth/token\"}", err);
    CHECK_STR(u, "https://cxone.niceincontact.com/auth/token");
    free(u);
    check_null_with(token_ep("{\"issuer\":\"x\"}", err), err, "openid-configuration: \"token_endpoint\" is missing");
    check_null_with(token_ep("{\"token_endpoint\":42}", err), err, "not a string");
    check_null_with(token_ep("{\"token_endpoint\":\"ftp://x/token\"}", err), err, "absolute http(s) URL");
    check_null_with(token_ep("{\"token_endpoint\":\"https://\"}", err), err, "absolute http(s) URL");
    check_null_with(token_ep("{\"token_endpoint\":\"https://a b/\"}", err), err, "absolute http(s) URL");
    check_null_with(token_ep("<html>", err), err, "openid-configuration: not JSON (line 1");
    check_null_with(token_ep("[1]", err), err, "expected a JSON object");
    check_null_with(token_ep("", err), err, "not JSON");
}

static void test_api_base(void)
{
    char err[ERRLEN];
    char *u = api_base("{\"tenantId\":\"t\",\"area\":\"na1\",\"api_endpoint\":\"https://api-na1.niceincontact.com/\"}",
                       err);
    CHECK_STR(u, "https://api-na1.niceincontact.com");
    free(u);
    u = api_base("{\"tenantId\":\"t\",\"area\":\"au1\"}", err);
    CHECK_STR(u, "https://api-au1.niceincontact.com");
    free(u);
    u = api_base("{\"area\":\"eu1\",\"api_endpoint\":\"\"}", err); /* empty endpoint: fall back */
    CHECK_STR(u, "https://api-eu1.niceincontact.com");
    free(u);
    check_null_with(api_base("{\"tenantId\":\"t\"}", err), err, "neither \"api_endpoint\" nor \"area\"");
    check_null_with(api_base("{\"area\":\"na1.evil.com/x\"}", err), err, "\"area\" must be");
    check_null_with(api_base("{\"area\":\"\"}", err), err, "\"area\" must be");
    check_null_with(api_base("{\"api_endpoint\":\"javascript:x\"}", err), err, "cxone-configuration: \"api_endpoint\"");
    check_null_with(api_base("nope", err), err, "cxone-configuration: not JSON");
}

/* JWTs built offline (python3 base64.urlsafe_b64encode, padding stripped). */
#define HDR "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9" /* {"alg":"RS256","typ":"JWT"} */

static void test_jwt(void)
{
    char err[ERRLEN];
    /* {"iss":"https://cxone.niceincontact.com","tenantId":"11ee0000-0000-4000-8000-000000000001"} */
    char *t = tenant(HDR ".eyJpc3MiOiJodHRwczovL2N4b25lLm5pY2VpbmNvbnRhY3QuY29tIiwidGVuYW50SWQiOiIxMWVlMDAwMC0wMDAw"
                         "LTQwMDAtODAwMC0wMDAwMDAwMDAwMDEifQ.c2ln",
                     err);
    CHECK_STR(t, "11ee0000-0000-4000-8000-000000000001");
    free(t);
    /* {"tenantId":"ab"} (17 bytes: exercises a 2-character tail) */
    t = tenant(HDR ".eyJ0ZW5hbnRJZCI6ImFiIn0.", err);
    CHECK_STR(t, "ab");
    free(t);
    check_null_with(tenant("abc", err), err, "not a JWT");
    check_null_with(tenant("a.b", err), err, "not a JWT");
    check_null_with(tenant("a.b.c.d", err), err, "not a JWT");
    check_null_with(tenant(HDR ".eyJ0ZW5hbnRJZCI6ImFiIn0=.x", err), err, "payload is not base64url");
    check_null_with(tenant(HDR ".eyJ+.x", err), err, "payload is not base64url");
    check_null_with(tenant(HDR ".eyJ0Z.x", err), err, "payload is not base64url"); /* length % 4 == 1 */
    check_null_with(tenant(HDR ".eyJ0ZW5hbnRJZCI6ImFiIn1.x", err), err, "payload is not base64url"); /* bits */
    /* {"sub":"secret-ish-value"} -> no claim; the payload text must not appear in the message */
    check_null_with(tenant(HDR ".eyJzdWIiOiJzZWNyZXQtaXNoLXZhbHVlIn0.x", err), err, "no \"tenantId\" claim");
    CHECK(strstr(err, "secret-ish") == NULL, "message quotes the payload: %s", err);
    /* payload "not json secret-ish" */
    check_null_with(tenant(HDR ".bm90IGpzb24gc2VjcmV0LWlzaA.x", err), err, "payload is not a JSON object");
    CHECK(strstr(err, "secret") == NULL, "message quotes the payload: %s", err);
    /* {"tenantId":42} and {"tenantId":"a\u0001b"} */
    check_null_with(tenant(HDR ".eyJ0ZW5hbnRJZCI6NDJ9.x", err), err, "no \"tenantId\" claim");
    check_null_with(tenant(HDR ".eyJ0ZW5hbnRJZCI6ImFcdTAwMDFiIn0.x", err), err, "without control characters");
}

int main(void)
{
    test_urls();
    test_token_endpoint();
    test_api_base();
    test_jwt();
    return check_finish();
}
