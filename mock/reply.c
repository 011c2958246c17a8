#include "reply.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

static const char OOM_BODY[] = "{\"error\":\"internal_error\",\"message\":\"out of memory\"}";

void reply_release(struct reply *rep)
{
    if (!rep->body_static)
        free(rep->body);
    rep->body = NULL;
    rep->len = 0;
    rep->body_static = false;
}

void reply_static(struct reply *rep, unsigned status, const char *body, size_t len)
{
    reply_release(rep);
    rep->status = status;
    rep->body = (char *)body;
    rep->len = len;
    rep->body_static = true;
}

void reply_owned(struct reply *rep, unsigned status, char *body, size_t len)
{
    reply_release(rep);
    rep->status = status;
    rep->body = body;
    rep->len = len;
}

void reply_json(struct reply *rep, unsigned status, json_t *body_json)
{
    char *s = body_json ? json_dumps(body_json, JSON_COMPACT) : NULL;
    json_decref(body_json);
    if (!s) {
        reply_static(rep, 500, OOM_BODY, sizeof OOM_BODY - 1);
        return;
    }
    reply_owned(rep, status, s, strlen(s));
}

void reply_error(struct reply *rep, unsigned status, const char *error, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *o = json_pack("{s:s,s:s}", "error", error, "message", msg);
    if (!o) /* the message quoted input that is not UTF-8 */
        o = json_pack("{s:s,s:s}", "error", error, "message", "request rejected");
    reply_json(rep, status, o);
}

void reply_retry_after(struct reply *rep, double secs, bool as_date)
{
    double whole = ceil(secs);
    if (whole < 1)
        whole = 1;
    if (as_date)
        format_http_date(time(NULL) + (time_t)whole, rep->retry_after);
    else
        snprintf(rep->retry_after, sizeof rep->retry_after, "%.0f", whole);
}

void reply_method_not_allowed(struct reply *rep, const char *method, const char *allow)
{
    reply_error(rep, 405, "method_not_allowed", "%s is not allowed here (allowed: %s)", method, allow);
    rep->allow = allow;
}
