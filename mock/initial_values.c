#include "initial_values.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contacts.h"
#include "util.h"

/* Dates of generated values: 2025-01-01T00:00:00Z plus up to a year, per contact. */
#define EPOCH_2025_MS 1735689600000LL
#define YEAR_MS (365LL * 86400000LL)

struct iv_entry {
    const struct outcome_sub *outcome;   /* NULL: no outcome */
    const struct disposition_def *def;   /* NULL: no disposition */
    char *notes;
};

struct initial_values {
    enum iv_mode mode;
    uint64_t seed_mix;
    double no_value_fraction;
    const struct outcome_sub **subs;     /* every (category, subcategory), in file order */
    size_t n_subs;
    const struct skill *skill;           /* generated dispositions come from the first skill */
    json_t *index;                       /* values file: id -> entry number */
    struct iv_entry *entries;
    size_t n_entries;
};

/* hash_finish is the splitmix64 finaliser: every input bit spreads over the output, so the
 * draws below (mix(h ^ 1), mix(h ^ 2), ...) are independent of each other. */
#define mix hash_finish

void iv_free(struct initial_values *iv)
{
    if (!iv)
        return;
    for (size_t i = 0; i < iv->n_entries; i++)
        free(iv->entries[i].notes);
    free(iv->entries);
    free(iv->subs);
    json_decref(iv->index);
    free(iv);
}

static int flatten_outcomes(struct initial_values *iv, const struct outcomes *oc)
{
    for (size_t c = 0; c < oc->n_cats; c++)
        iv->n_subs += oc->cats[c].n_subs;
    iv->subs = calloc(iv->n_subs + 1, sizeof *iv->subs);
    if (!iv->subs)
        return -1;
    size_t k = 0;
    for (size_t c = 0; c < oc->n_cats; c++)
        for (size_t s = 0; s < oc->cats[c].n_subs; s++)
            iv->subs[k++] = &oc->cats[c].subs[s];
    return 0;
}

/* ---- the values file ---------------------------------------------------------------- */

struct file_ctx {
    const char *path, *id;
    size_t id_len, n;          /* the entry's id and its place in the file (from 1) */
    const struct outcomes *oc;
    const struct skills *sk;
    char *err;
    size_t errlen;
};

static int entry_error(const struct file_ctx *f, const char *why)
{
    if (has_control_chars(f->id, f->id_len) || f->id_len > CONTACT_ID_MAX) /* not printable as it is */
        snprintf(f->err, f->errlen, "--values-file %.256s: entry %zu: %s", f->path, f->n, why);
    else
        snprintf(f->err, f->errlen, "--values-file %.256s: \"%.128s\": %s", f->path, f->id, why);
    return -1;
}

/* A whole number given as a JSON integer or a decimal string, as text (for skills_find and
 * skill_disposition, which take the decimal text). false when it is neither. */
static bool id_text(const json_t *v, char out[32])
{
    if (json_is_integer(v) && json_integer_value(v) > 0) {
        snprintf(out, 32, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return true;
    }
    const char *s = json_string_value(v);
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 18 || strspn(s, "0123456789") != n)
        return false;
    memcpy(out, s, n + 1);
    return true;
}

static int parse_outcome(const struct file_ctx *f, const json_t *e, struct iv_entry *out)
{
    const json_t *cat = json_object_get(e, "category"), *sub = json_object_get(e, "subcategory");
    if (!cat && !sub)
        return 0;
    if (!json_is_string(cat) || !json_is_string(sub))
        return entry_error(f, "category and subcategory must both be strings");
    out->outcome = outcomes_find(f->oc, json_string_value(cat), json_string_length(cat), json_string_value(sub),
                                 json_string_length(sub));
    if (!out->outcome) {
        char why[300];
        snprintf(why, sizeof why, "category \"%.100s\", subcategory \"%.100s\" is not in the outcome hierarchy",
                 json_string_value(cat), json_string_value(sub));
        return entry_error(f, why);
    }
    return 0;
}

static int parse_disposition(const struct file_ctx *f, const json_t *e, struct iv_entry *out)
{
    const json_t *skill = json_object_get(e, "skill"), *code = json_object_get(e, "dispositionId");
    const json_t *notes = json_object_get(e, "notes");
    char skill_s[32], code_s[32], why[160];
    if (!skill && !code)
        return notes ? entry_error(f, "notes needs skill and dispositionId") : 0;
    if (!skill || !code)
        return entry_error(f, "skill and dispositionId go together");
    if (!id_text(skill, skill_s) || !id_text(code, code_s))
        return entry_error(f, "skill and dispositionId must be positive whole numbers");
    if (notes && !json_is_string(notes))
        return entry_error(f, "notes must be a string");
    const struct skill *sk = skills_find(f->sk, skill_s, strlen(skill_s));
    if (!sk) {
        snprintf(why, sizeof why, "skill %s is not a skill of the mock (see --skills)", skill_s);
        return entry_error(f, why);
    }
    long long want = strtoll(code_s, NULL, 10);
    for (size_t i = 0; !out->def && i < sk->n_defs; i++)
        if (sk->defs[i].id == want)
            out->def = &sk->defs[i];
    if (!out->def) {
        snprintf(why, sizeof why, "dispositionId %s is not a disposition of skill %s", code_s, skill_s);
        return entry_error(f, why);
    }
    if (notes && !(out->notes = strdup(json_string_value(notes))))
        return entry_error(f, "out of memory");
    return 0;
}

static int parse_entry(const struct file_ctx *f, const json_t *e, struct iv_entry *out)
{
    static const char *const known[] = {"category", "subcategory", "skill", "dispositionId", "notes"};
    size_t len = f->id_len;
    if (len == 0 || len > CONTACT_ID_MAX || has_control_chars(f->id, len))
        return entry_error(f, "not a contact id (1 to 512 bytes, no control characters)");
    if (json_is_null(e))
        return 0;
    if (!json_is_object(e))
        return entry_error(f, "must be an object or null");
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)e, key, v) {
        size_t i = 0;
        while (i < sizeof known / sizeof known[0] && strcmp(key, known[i]) != 0)
            i++;
        if (i == sizeof known / sizeof known[0]) {
            char why[128];
            snprintf(why, sizeof why, "unknown field \"%.64s\"", key);
            return entry_error(f, why);
        }
    }
    return parse_outcome(f, e, out) != 0 ? -1 : parse_disposition(f, e, out);
}

static int load_file(struct initial_values *iv, struct file_ctx *f)
{
    json_t *root = load_json_doc("--values-file", f->path, NULL, NULL, f->err, f->errlen);
    if (!root)
        return -1;
    int rc = -1;
    if (!json_is_object(root)) {
        snprintf(f->err, f->errlen, "--values-file %.256s: must be a JSON object {\"<contact id>\": {...}, ...}",
                 f->path);
    } else if (!(iv->index = json_object()) ||
               !(iv->entries = calloc(json_object_size(root) + 1, sizeof *iv->entries))) {
        snprintf(f->err, f->errlen, "out of memory");
    } else {
        rc = 0;
        const json_t *v;
        json_object_keylen_foreach(root, f->id, f->id_len, v) {
            struct iv_entry *e = &iv->entries[iv->n_entries++];
            f->n = iv->n_entries;
            if (parse_entry(f, v, e) != 0 ||
                json_object_set_new(iv->index, f->id, json_integer((json_int_t)(iv->n_entries - 1))) != 0) {
                if (!f->err[0])
                    snprintf(f->err, f->errlen, "out of memory");
                rc = -1;
                break;
            }
        }
    }
    json_decref(root);
    return rc;
}

struct initial_values *iv_load(const struct iv_options *o, const struct outcomes *oc, const struct skills *sk,
                               char *err, size_t errlen)
{
    struct initial_values *iv = calloc(1, sizeof *iv);
    if (!iv || flatten_outcomes(iv, oc) != 0) {
        iv_free(iv);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    iv->mode = o->mode;
    iv->seed_mix = mix(o->seed + 0x9e3779b97f4a7c15ULL);
    iv->no_value_fraction = o->no_value_fraction;
    iv->skill = sk->n > 0 && sk->list[0].n_defs > 0 ? &sk->list[0] : NULL;
    err[0] = '\0';
    struct file_ctx f = {o->file, "", 0, 0, oc, sk, err, errlen};
    if (o->file && load_file(iv, &f) != 0) {
        iv_free(iv);
        return NULL;
    }
    return iv;
}

size_t iv_file_count(const struct initial_values *iv)
{
    return iv->n_entries;
}

int iv_each_id(const struct initial_values *iv, int (*add)(void *ctx, const char *id, size_t len), void *ctx)
{
    const char *id;
    json_t *v;
    json_object_foreach(iv->index, id, v) {
        int rc = add(ctx, id, strlen(id));
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* ---- lookups ------------------------------------------------------------------------ */

/* The file's entry for id, or NULL. */
static const struct iv_entry *file_entry(const struct initial_values *iv, const char *id, size_t len)
{
    if (!iv->index)
        return NULL;
    const json_t *n = json_object_getn(iv->index, id, len);
    return n ? &iv->entries[json_integer_value(n)] : NULL;
}

/* The contact's hash under the seed; *none when it starts without a value. */
static uint64_t draw(const struct initial_values *iv, const char *id, size_t len, bool *none)
{
    uint64_t h = mix(hash_bytes(id, len) ^ iv->seed_mix);
    double u = (double)(h >> 11) * (1.0 / 9007199254740992.0);
    *none = iv->mode == IV_NONE || u < iv->no_value_fraction;
    return h;
}

static int64_t date_of(uint64_t h)
{
    return EPOCH_2025_MS + (int64_t)(mix(h ^ 3) % (uint64_t)YEAR_MS);
}

const struct outcome_sub *iv_outcome(const struct initial_values *iv, const char *id, size_t len,
                                     int64_t *updated_ms)
{
    bool none;
    uint64_t h = draw(iv, id, len, &none);
    *updated_ms = date_of(h);
    const struct iv_entry *e = file_entry(iv, id, len);
    if (e)
        return e->outcome;
    if (none || iv->n_subs == 0)
        return NULL;
    return iv->subs[mix(h ^ 1) % iv->n_subs];
}

bool iv_disposition(const struct initial_values *iv, const char *id, size_t len, struct iv_disposition *out)
{
    bool none;
    uint64_t h = draw(iv, id, len, &none);
    out->updated_ms = date_of(h);
    out->notes = NULL;
    const struct iv_entry *e = file_entry(iv, id, len);
    if (e) {
        out->def = e->def;
        out->notes = e->notes;
        return e->def != NULL;
    }
    if (none || !iv->skill)
        return false;
    uint64_t k = mix(h ^ 2);
    out->def = &iv->skill->defs[k % iv->skill->n_defs];
    if ((k >> 63) != 0) { /* half of them carry notes, so a restore must bring notes back */
        snprintf(out->notes_buf, sizeof out->notes_buf, "seeded note %08x", (unsigned)(k >> 20));
        out->notes = out->notes_buf;
    }
    return true;
}
