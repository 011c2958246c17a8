/* Per-contact value histories for GET /_mock/stats?history=1 (with --history): each contact a
 * client read or wrote, with the value it started with followed by every value a write gave it,
 * so a spec can tell what a run (or its undo) did to each contact from the server's side. */
#include "mock.h"

/* Puts v0 (consumed) in front of every array of map; 0 or -1. */
static int prepend(json_t *map, json_t *(*v0)(struct mock *, const char *, size_t), struct mock *m)
{
    const char *id;
    size_t len;
    json_t *a;
    json_object_keylen_foreach(map, id, len, a) {
        if (json_array_insert_new(a, 0, v0(m, id, len)) != 0)
            return -1;
    }
    return 0;
}

static json_t *initial_outcome(struct mock *m, const char *id, size_t len)
{
    int64_t ms;
    return outcome_value_json(iv_outcome(m->initial, id, len, &ms));
}

static json_t *initial_disposition(struct mock *m, const char *id, size_t len)
{
    struct iv_disposition d;
    if (!iv_disposition(m->initial, id, len, &d))
        return json_null();
    return disposition_value_json(d.def, d.notes);
}

int history_to_json(struct mock *m, json_t *obj)
{
    json_t *outcomes = contacts_history_json(m->contacts);
    json_t *dispositions = dispositions_history_json(m->dispositions);
    int bad = !outcomes || !dispositions;
    bad = bad || prepend(outcomes, initial_outcome, m) != 0 || prepend(dispositions, initial_disposition, m) != 0;
    if (bad) {
        json_decref(outcomes);
        json_decref(dispositions);
        return -1;
    }
    bad |= json_object_set_new(obj, "outcome_history", outcomes);
    bad |= json_object_set_new(obj, "disposition_history", dispositions);
    return bad ? -1 : 0;
}
