/* The skills of the cxone profile and the dispositions each accepts, loaded from a JSON
 * file (--skills) or the built-in default. Immutable after load. */
#ifndef CXONE_MOCK_SKILLS_H
#define CXONE_MOCK_SKILLS_H

#include <stddef.h>

struct skill;

struct disposition_def {
    long long id;
    char *name;
    const struct skill *skill;
};

struct skill {
    long long id;
    char *name;
    struct disposition_def *defs;
    size_t n_defs;
    char *json;      /* pre-rendered body of GET .../skills/{id}/dispositions */
    size_t json_len;
};

struct skills {
    struct skill *list;
    size_t n;
};

/* path NULL loads the built-in skills. On error NULL with a message (file, index, field) in err. */
struct skills *skills_load(const char *path, char *err, size_t errlen);
void skills_free(struct skills *s);
/* The skill whose id is the decimal text id[0..len), or NULL. */
const struct skill *skills_find(const struct skills *s, const char *id, size_t len);
/* The disposition of sk whose id (decimal) or exact name is code[0..len), or NULL. */
const struct disposition_def *skill_disposition(const struct skill *sk, const char *code, size_t len);
/* A contact's disposition as a value: {"skill","dispositionId","dispositionName","notes"?}, or
 * JSON null when d is NULL (NULL only when out of memory). */
struct json_t;
struct json_t *disposition_value_json(const struct disposition_def *d, const char *notes);

#endif
