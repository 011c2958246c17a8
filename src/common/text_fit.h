/* Messages that must fit a fixed buffer end between two words, never in the middle of one (or of
 * a UTF-8 sequence): "... unreachable for 30 s (connect: Connection..." rather than "...Conn". */
#ifndef CXB_TEXT_FIT_H
#define CXB_TEXT_FIT_H
#include <stddef.h>

/* To call right after snprintf/vsnprintf(buf, len, ...) returned `written`: when the text was
 * cut (written >= len), ends buf at the last space that leaves room for "...", and appends it;
 * a text without such a space is cut at a UTF-8 character boundary instead. Otherwise (and for
 * len < 8 or written < 0) buf is left as it is. */
void cxb_text_fit(char *buf, size_t len, int written);
#endif
