/* Where a fleet limit lives: a shared_limit Redis URL taken apart (libcurl's URL API), the
 * password from the URL or $CXONE_REDIS_PASSWORD. No message ever holds the password. */
#ifndef CXB_REDIS_URL_H
#define CXB_REDIS_URL_H
#include <stddef.h>

#define CXB_REDIS_KEY_MAX 64
#define CXB_REDIS_KEY_PREFIX "cxone-bulk:limit:"

typedef struct cxb_redis_target {
    char host[256], sock[256], user[128], key[sizeof CXB_REDIS_KEY_PREFIX + CXB_REDIS_KEY_MAX];
    char *password; /* malloc'd or NULL; wiped by cxb_redis_target_free */
    int port, db;
} cxb_redis_target;

/* "redis://[user:password@]host[:port][/db]?key=NAME" or "unix:///path[?db=N&]key=NAME" into r
 * (zeroed by the caller). 0, or -1 with a message naming the part that is wrong (never the URL,
 * which may hold a password). */
int cxb_redis_target_parse(cxb_redis_target *r, const char *url, char *err, size_t errlen);

/* Wipes and frees the password. */
void cxb_redis_target_free(cxb_redis_target *r);
#endif
