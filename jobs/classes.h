/* classes.h - the job classes one configuration makes known, built-in and declared, each with
 * its argument tuple: the one list processes publish with their record, `nexusd -t` checks
 * schedules against and `nexusctl types` declares. */
#ifndef CLASSES_H
#define CLASSES_H

#include <stdbool.h>
#include <stddef.h>

struct cfg;
struct class_arg;
struct classes; /* opaque */
typedef struct json_t json_t;

struct class_info {
    const char *name;             /* the job's "class"; borrowed from the handler or the cfg */
    const char *kind;             /* "built-in", "sql", "http" or "command"; static */
    const struct class_arg *args; /* the tuple (registry.h); NULL: not declared, any args */
    unsigned nargs;
};

/* Every class a job may name with `cfg` (NULL: the built-in ones alone) and find a handler:
 * exactly the names handler_find() answers for, sorted by name, each once. Caller owns it,
 * release with classes_free(); it borrows from `cfg`, which must outlive it. */
struct classes *classes_new(const struct cfg *cfg);
void classes_free(struct classes *cl); /* accepts NULL */

size_t classes_count(const struct classes *cl);
/* Borrowed, valid until classes_free(); i < classes_count(). */
const struct class_info *classes_get(const struct classes *cl, size_t i);
/* The class named `name`, or NULL: no handler would run its jobs. Borrowed as above. */
const struct class_info *classes_find(const struct classes *cl, const char *name);
/* The names as a JSON array of strings, in order. Caller owns it, release with json_decref(). */
json_t *classes_names(const struct classes *cl);

#endif
