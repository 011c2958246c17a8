#include "profile/plain_task.h"

#include <string.h>

/* Every byte printable ASCII (0x20-0x7e) and the field not empty. */
static int plain_text(const char *s, size_t n, size_t max)
{
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c > 0x7e)
            return 0;
    }
    return 1;
}

int cxb_plain_accepts(const char *id, size_t id_len, const char *cat, size_t cat_len,
                      const char *sub, size_t sub_len)
{
    if (!plain_text(id, id_len, CXB_PLAIN_ID_MAX) || !plain_text(cat, cat_len, CXB_PLAIN_TEXT_MAX) ||
        !plain_text(sub, sub_len, CXB_PLAIN_TEXT_MAX))
        return 0;
    /* White space around an id (a spreadsheet artefact) and dot segments are the validator's to
     * word; so is anything the URL would normalise. */
    if (id[0] == ' ' || id[id_len - 1] == ' ')
        return 0;
    if ((id_len == 1 && id[0] == '.') || (id_len == 2 && id[0] == '.' && id[1] == '.'))
        return 0;
    return 1;
}

static int unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

size_t cxb_plain_url_tail(const char *id, size_t id_len, char *out)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (size_t i = 0; i < id_len; i++) {
        unsigned char c = (unsigned char)id[i];
        if (unreserved(c)) {
            out[n++] = (char)c;
        } else {
            out[n++] = '%';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 15];
        }
    }
    return n;
}

/* A JSON string of printable ASCII as lua-cjson writes it: '"', '\' and '/' escaped. */
static size_t plain_json_string(const char *s, size_t len, char *out)
{
    size_t n = 0;
    out[n++] = '"';
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '"' || c == '\\' || c == '/')
            out[n++] = '\\';
        out[n++] = c;
    }
    out[n++] = '"';
    return n;
}

size_t cxb_plain_body(const char *cat, size_t cat_len, const char *sub, size_t sub_len, char *out)
{
    static const char a[] = "{\"outcome\":{\"category\":", b[] = ",\"subcategory\":", c[] = "}}";
    size_t n = 0;
    memcpy(out + n, a, sizeof a - 1);
    n += sizeof a - 1;
    n += plain_json_string(cat, cat_len, out + n);
    memcpy(out + n, b, sizeof b - 1);
    n += sizeof b - 1;
    n += plain_json_string(sub, sub_len, out + n);
    memcpy(out + n, c, sizeof c - 1);
    n += sizeof c - 1;
    return n;
}
