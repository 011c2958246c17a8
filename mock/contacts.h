/* The contacts the mock knows and what was done to them: a fixed-size hash table with
 * striped locks, so PUTs on different contacts rarely contend. */
#ifndef CXONE_MOCK_CONTACTS_H
#define CXONE_MOCK_CONTACTS_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "outcomes.h"

#define CONTACT_ID_MAX 512

struct contacts;

/* A snapshot of one contact, taken under its lock. */
struct contact_view {
    uint32_t count;                      /* mutations so far */
    const struct outcome_sub *outcome;   /* NULL until first mutated */
    int64_t updated_ms;                  /* Unix ms of the last mutation */
};

enum contact_result { CONTACT_OK = 0, CONTACT_NOT_FOUND = 1, CONTACT_NOMEM = -1 };

/* any_contact: every id exists (records are created on first mutation).
 * expected: how many ids will be added up front (sizes the table).
 * history: keep every applied outcome per contact and remember which contacts were read
 * (contacts_history_json); off, a mutation costs no more than without it. */
struct contacts *contacts_new(bool any_contact, size_t expected, bool history);
void contacts_free(struct contacts *c);
/* Adds a known id (duplicates are ignored). 0 or -1 on allocation failure. */
int contacts_add(struct contacts *c, const char *id, size_t len);
size_t contacts_known(const struct contacts *c);
/* Counts the non-empty lines of a --contacts-file (to size the table). -1 if unreadable. */
long contacts_count_file(const char *path);
/* Adds one id per line ('\r\n' endings and empty lines tolerated). 0, or -1 with a
 * message naming the file and line in err. */
int contacts_add_file(struct contacts *c, const char *path, char *err, size_t errlen);

enum contact_result contacts_get(struct contacts *c, const char *id, size_t len, struct contact_view *out);
/* contacts_get for a client's read of the contact (GET /api/v2/contacts/{id}): with history,
 * the contact is remembered as read. */
enum contact_result contacts_read(struct contacts *c, const char *id, size_t len, struct contact_view *out);
/* Applies an outcome: count++, outcome, updated time; *out is the state after it. */
enum contact_result contacts_mutate(struct contacts *c, const char *id, size_t len,
                                    const struct outcome_sub *outcome, int64_t now_ms,
                                    struct contact_view *out);
/* Forgets every mutation and the history (known ids stay known). */
void contacts_reset(struct contacts *c);

struct contacts_totals {
    uint64_t total_mutations, distinct_mutated, max_per_contact;
};
void contacts_totals(struct contacts *c, struct contacts_totals *out);
/* {"<id>": {"count": n, "category": "...", "subcategory": "..."}, ...} for mutated ids. */
json_t *contacts_mutations_json(struct contacts *c);
/* With history: {"<id>": [{"category","subcategory"}, ...]} — the outcomes applied, in order —
 * for every contact read or mutated; NULL without history or out of memory. */
json_t *contacts_history_json(struct contacts *c);

#endif
