/* classes.c - the classes of a configuration from the handler table and its class entries. */
#include "jobs/classes.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "conf/cfg.h"
#include "jobs/registry.h"
#include "lib/xalloc.h"

struct classes {
    struct class_info *v; /* n of them, sorted by name */
    size_t n;
    struct class_arg **owned; /* the tuples made from `sql` classes' types, nowned of them */
    size_t nowned;
};

/* What each type of a `sql` class's `args` asks of its JSON value, and a value it takes. */
static const struct {
    enum class_arg_type type;
    const char *example;
} sql_types[] = {
    [CFG_ARG_TEXT] = {CLASS_ARG_STRING, "\"text\""},
    [CFG_ARG_INT] = {CLASS_ARG_INTEGER, "1"},
    [CFG_ARG_FLOAT] = {CLASS_ARG_NUMBER, "1.5"},
    [CFG_ARG_BOOL] = {CLASS_ARG_BOOLEAN, "true"},
    [CFG_ARG_JSON] = {CLASS_ARG_ANY, "{}"},
    [CFG_ARG_UUID] = {CLASS_ARG_UUID, "\"3f2c8e1a-5b7d-4c9e-8a1f-2d3b4c5e6f70\""},
    [CFG_ARG_TIME] = {CLASS_ARG_TIME, "\"2026-11-01T00:00:00Z\""},
};

/* Parameter names of a `sql` class's tuple: "$1".."$32". */
static const char *const sql_names[CFG_MAX_SQL_ARGS] = {
    "$1",  "$2",  "$3",  "$4",  "$5",  "$6",  "$7",  "$8",  "$9",  "$10", "$11",
    "$12", "$13", "$14", "$15", "$16", "$17", "$18", "$19", "$20", "$21", "$22",
    "$23", "$24", "$25", "$26", "$27", "$28", "$29", "$30", "$31", "$32",
};

static int info_cmp(const void *a, const void *b)
{
    return strcmp(((const struct class_info *)a)->name, ((const struct class_info *)b)->name);
}

/* A `sql` class's tuple, one element per $N, owned by `cl`. */
static void sql_tuple(struct classes *cl, const struct cfg_class *cls, struct class_info *info)
{
    struct class_arg *args = xcalloc(cls->nargs ? cls->nargs : 1, sizeof(*args));

    for (unsigned i = 0; i < cls->nargs; i++)
        args[i] = (struct class_arg){sql_names[i], sql_types[cls->arg_types[i]].type, false,
                                     sql_types[cls->arg_types[i]].example};
    cl->owned[cl->nowned++] = args;
    info->args = args;
    info->nargs = cls->nargs;
}

struct classes *classes_new(const struct cfg *cfg)
{
    size_t nclasses = cfg ? cfg->nclasses : 0, max = nclasses;
    struct classes *cl = xcalloc(1, sizeof(*cl));
    const struct handler *h;

    for (size_t i = 0; handler_at(i); i++)
        max++;
    cl->v = xcalloc(max ? max : 1, sizeof(*cl->v));
    cl->owned = xcalloc(nclasses ? nclasses : 1, sizeof(*cl->owned));
    for (size_t i = 0; (h = handler_at(i)); i++)
        if (!h->claims)
            cl->v[cl->n++] = (struct class_info){h->name, "built-in", h->args, h->nargs};
    for (size_t i = 0; i < nclasses; i++) {
        const struct cfg_class *cls = &cfg->classes[i];
        struct class_info *info = &cl->v[cl->n];

        h = handler_find(cfg, cls->name);
        if (!h || !h->claims) /* none: settings of a class nothing runs; else built in */
            continue;
        *info = (struct class_info){cls->name, cls->sql ? "sql" : cls->url ? "http" : "command",
                                    NULL, 0};
        if (cls->sql)
            sql_tuple(cl, cls, info);
        cl->n++;
    }
    qsort(cl->v, cl->n, sizeof(*cl->v), info_cmp);
    return cl;
}

void classes_free(struct classes *cl)
{
    if (!cl)
        return;
    for (size_t i = 0; i < cl->nowned; i++)
        free(cl->owned[i]);
    free(cl->owned);
    free(cl->v);
    free(cl);
}

size_t classes_count(const struct classes *cl)
{
    return cl->n;
}

const struct class_info *classes_get(const struct classes *cl, size_t i)
{
    return &cl->v[i];
}

const struct class_info *classes_find(const struct classes *cl, const char *name)
{
    struct class_info key = {.name = name};

    return bsearch(&key, cl->v, cl->n, sizeof(*cl->v), info_cmp);
}

json_t *classes_names(const struct classes *cl)
{
    json_t *names = json_array();

    for (size_t i = 0; i < cl->n; i++)
        (void)json_array_append_new(names, json_string(cl->v[i].name));
    return names;
}
