#include "common/text_fit.h"

#include <string.h>

#define ELLIPSIS "..."
#define ELLIPSIS_LEN 3
/* A space further back than this share of the buffer would throw away too much: cut the word. */
#define FIT_MIN_KEEP 2

void cxb_text_fit(char *buf, size_t len, int written)
{
    if (!buf || written < 0 || (size_t)written < len || len < 8) return;
    size_t end = len - 1 - ELLIPSIS_LEN; /* the last byte that may stay */
    size_t cut = end;
    while (cut > 0 && buf[cut] != ' ') cut--;
    if (cut < end / FIT_MIN_KEEP) {
        /* No usable space: cut before a UTF-8 continuation byte's lead, not inside it. */
        cut = end;
        while (cut > 0 && ((unsigned char)buf[cut] & 0xC0) == 0x80) cut--;
    } else {
        while (cut > 0 && (buf[cut - 1] == ' ' || buf[cut - 1] == ',' || buf[cut - 1] == ';' ||
                           buf[cut - 1] == ':'))
            cut--; /* "(connect:..." reads worse than "(connect..." */
    }
    memcpy(buf + cut, ELLIPSIS, ELLIPSIS_LEN + 1);
}
