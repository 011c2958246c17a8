#include "profile/plain_task.h"
#include "profile/request.h"

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

size_t cxb_plain_url_tail(const char *id, size_t id_len, char *out)
{
    return cxb_pct_encode(id, id_len, out);
}

size_t cxb_plain_body(const char *cat, size_t cat_len, const char *sub, size_t sub_len, char *out)
{
    return cxb_tutorial_body(cat, cat_len, sub, sub_len, out);
}
