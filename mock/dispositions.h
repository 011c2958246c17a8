/* What set-disposition did to each contact (the cxone profile): the current disposition,
 * for GET .../contacts/{id}/disposition, and how many times it was applied, for the
 * server-side exactly-once counts of GET /_mock/stats. One mutex: the real API's rate is
 * tens of calls per second. */
#ifndef CXONE_MOCK_DISPOSITIONS_H
#define CXONE_MOCK_DISPOSITIONS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "skills.h"

struct disposition_store;

/* One set-disposition call's fields; the optional strings are NULL when not given. */
struct disposition_set {
    const struct disposition_def *def;
    const char *notes, *callback_number, *callback_time, *commitment_amount;
};

/* history: keep every applied disposition per contact and remember which contacts were read. */
struct disposition_store *dispositions_new(bool history);
void dispositions_free(struct disposition_store *s);
/* Applies a call to contact id[0..len): replaces its disposition, counts one application.
 * 0, or -1 on allocation failure (nothing applied). */
int dispositions_apply(struct disposition_store *s, const char *id, size_t len, const struct disposition_set *d,
                       int64_t now_ms);
/* The read-back {"dispositionId","dispositionName","notes"?,"lastUpdated"} of a contact, or
 * NULL when it has none (or on allocation failure: *nomem is set). */
json_t *dispositions_get(struct disposition_store *s, const char *id, size_t len, int *nomem);
/* With history: remembers that a client read the contact's disposition. 0 or -1. */
int dispositions_touch(struct disposition_store *s, const char *id, size_t len);
/* Forgets every disposition applied and the history. */
void dispositions_reset(struct disposition_store *s);
/* With history: {"<id>": [{"skill","dispositionId","dispositionName","notes"?}, ...]} — the
 * dispositions applied, in order — for every contact read or written; else NULL. */
json_t *dispositions_history_json(struct disposition_store *s);
/* Adds "set_dispositions" (per-contact map, only when with_map), "total_set_dispositions",
 * "distinct_dispositioned", "max_set_dispositions_per_contact" to obj. 0 or -1. */
int dispositions_stats_json(struct disposition_store *s, json_t *obj, int with_map);

#endif
