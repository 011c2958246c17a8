/* The cxone profile's discovery steps as pure functions over buffers (no I/O): the caller
 * fetches the documents on its own handle and limiter. Every function returns a malloc'd
 * string, or NULL with a message in err (errlen bytes) that names the document and field and
 * never quotes a token. */
#ifndef CXB_DISCOVERY_H
#define CXB_DISCOVERY_H
#include <stddef.h>

/* Where the documents live, from the issuer (default CXB_DEFAULT_ISSUER, NICE's
 * "API Authentication and Authorization" page). A trailing '/' of issuer is ignored;
 * tenant_id is percent-encoded. */
#define CXB_DEFAULT_ISSUER "https://cxone.niceincontact.com"
char *cxb_openid_config_url(const char *issuer);
char *cxb_cxone_config_url(const char *issuer, const char *tenant_id);

/* openid-configuration document -> its token_endpoint (an absolute http(s) URL). */
char *cxb_discovery_token_endpoint(const char *doc, size_t len, char *err, size_t errlen);

/* cxone-configuration document -> the tenant's API base URL without a trailing '/':
 * api_endpoint when it is a non-empty string, else from area ([A-Za-z0-9-], at most 32)
 * as https://api-{area}.niceincontact.com. */
char *cxb_discovery_api_base(const char *doc, size_t len, char *err, size_t errlen);

/* The tenantId claim of a JWT's payload (RFC 7519 compact form, base64url without padding).
 * The signature is NOT checked: the value only chooses which host to ask, and that host then
 * authenticates every request with the access token. */
char *cxb_jwt_tenant_id(const char *jwt, size_t len, char *err, size_t errlen);

/* {api_base}/incontactapi/services/{version}/{collection}/{id}/{action}, id percent-encoded
 * (e.g. collection "contacts", action "set-disposition"). version like "v33.0". */
char *cxb_cxone_api_url(const char *api_base, const char *version, const char *collection, const char *id,
                        const char *action);
#endif
