/* Routing: which route a request is (raw path and method), its stats bucket and arrival log,
 * and the dispatch to the route handlers. */
#ifndef CXONE_MOCK_ROUTES_H
#define CXONE_MOCK_ROUTES_H

#include "mock.h"

enum http_method route_method(const char *method);
/* Sets r->route, r->api, r->admin (and the id) from the raw path; families: the API profiles
 * served (--api), the other's paths are unknown routes. */
void route_request(struct req *r, const char *url, unsigned families);
enum stat_route route_stat(const struct req *r);
/* Which arrival log the request goes to (every route a client of the tenant calls has one). */
enum arrival_log route_arrival_log(const struct req *r);
/* Answers the request (fills r->reply). */
void route_dispatch(struct mock *m, struct req *r, struct MHD_Connection *c);

#endif
