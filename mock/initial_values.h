/* The value each contact holds before anything is written to it: the tutorial's outcome
 * {category, subcategory} and the cxone profile's disposition {skill, dispositionId, notes?}.
 * It is a pure function of the seed and the contact id (so a contact first touched late in a
 * run, e.g. under --any-contact, still shows a stable value), unless --values-file names the
 * contact; --initial-values none gives no contact a value. Immutable after load, so readers
 * need no lock. */
#ifndef CXONE_MOCK_INITIAL_VALUES_H
#define CXONE_MOCK_INITIAL_VALUES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "outcomes.h"
#include "skills.h"

enum iv_mode { IV_RANDOM, IV_NONE };

struct iv_options {
    enum iv_mode mode;         /* contacts not in the file: a seeded random value, or none */
    uint64_t seed;
    double no_value_fraction;  /* IV_RANDOM: this fraction of contacts start with no value */
    char *file;                /* --values-file, or NULL */
};

/* A contact's initial disposition. notes points into the loaded file or into notes_buf. */
struct iv_disposition {
    const struct disposition_def *def;
    const char *notes;         /* NULL: none */
    char notes_buf[32];
    int64_t updated_ms;        /* Unix ms shown as lastUpdated */
};

struct initial_values;

/* NULL with err naming the file and the entry (or "out of memory"). */
struct initial_values *iv_load(const struct iv_options *o, const struct outcomes *oc, const struct skills *sk,
                               char *err, size_t errlen);
void iv_free(struct initial_values *iv);
/* How many contacts the values file names; add() is called for each id (they are known
 * contacts). iv_each_id returns the first non-zero add() result, else 0. */
size_t iv_file_count(const struct initial_values *iv);
int iv_each_id(const struct initial_values *iv, int (*add)(void *ctx, const char *id, size_t len), void *ctx);

/* The initial outcome of contact id[0..len), NULL when it has none; *updated_ms is the Unix ms
 * shown as updatedDate. */
const struct outcome_sub *iv_outcome(const struct initial_values *iv, const char *id, size_t len,
                                     int64_t *updated_ms);
/* The initial disposition; false when the contact has none. */
bool iv_disposition(const struct initial_values *iv, const char *id, size_t len, struct iv_disposition *out);

#endif
