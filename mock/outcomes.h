/* The outcome hierarchy (categories -> subcategories) the mock accepts, loaded from a
 * JSON file (--outcomes) or the built-in default. Immutable after load. */
#ifndef CXONE_MOCK_OUTCOMES_H
#define CXONE_MOCK_OUTCOMES_H

#include <stddef.h>

struct outcome_cat;

struct outcome_sub {
    char *name;
    char *description;
    const struct outcome_cat *cat;
    char *json;      /* {"category":..,"subcategory":..,"description":..}, rendered once */
    size_t json_len;
};

struct outcome_cat {
    char *name;
    struct outcome_sub *subs;
    size_t n_subs;
};

struct outcomes {
    struct outcome_cat *cats;
    size_t n_cats;
    char *json;      /* pre-rendered body of GET /api/v2/contact/outcomes */
    size_t json_len;
};

/* path NULL loads the built-in hierarchy. On error returns NULL with a message in err. */
struct outcomes *outcomes_load(const char *path, char *err, size_t errlen);
const struct outcome_sub *outcomes_find(const struct outcomes *o, const char *cat, size_t cat_len,
                                        const char *sub, size_t sub_len);
void outcomes_free(struct outcomes *o);
/* A contact's outcome as a value: {"category","subcategory"}, or JSON null for none (NULL only
 * when out of memory). */
struct json_t;
struct json_t *outcome_value_json(const struct outcome_sub *s);

#endif
