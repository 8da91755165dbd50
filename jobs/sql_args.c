/* sql_args.c - job args to typed SQL parameters. */
#include "jobs/sql_args.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "conf/cfg.h"
#include "lib/err.h"
#include "lib/xalloc.h"

static const char *const type_names[] = {
    [CFG_ARG_TEXT] = "string",
    [CFG_ARG_INT] = "whole number",
    [CFG_ARG_FLOAT] = "number",
    [CFG_ARG_BOOL] = "true or false",
    [CFG_ARG_JSON] = "JSON value",
    [CFG_ARG_UUID] = "uuid",
    [CFG_ARG_TIME] = "time (ISO 8601 string or epoch seconds)",
};

static int is_uuid(const char *s)
{
    static const char shape[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";

    if (strlen(s) != sizeof(shape) - 1)
        return 0;
    for (size_t i = 0; shape[i]; i++) {
        char c = s[i];
        int hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        if (shape[i] == '-' ? c != '-' : !hex)
            return 0;
    }
    return 1;
}

/* The parameter text of `v` as type `t`, or NULL when it does not fit. */
static char *bind_one(enum cfg_arg_type type, json_t *v)
{
    char buf[64];

    switch (type) {
    case CFG_ARG_TEXT:
        if (!json_is_string(v))
            return NULL;
        break;
    case CFG_ARG_INT:
        if (!json_is_integer(v))
            return NULL;
        (void)snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return xstrdup(buf);
    case CFG_ARG_FLOAT:
        if (!json_is_number(v))
            return NULL;
        (void)snprintf(buf, sizeof(buf), "%.17g", json_number_value(v));
        return xstrdup(buf);
    case CFG_ARG_BOOL:
        if (!json_is_boolean(v))
            return NULL;
        return xstrdup(json_is_true(v) ? "true" : "false");
    case CFG_ARG_JSON:
        return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    case CFG_ARG_UUID:
        if (!json_is_string(v) || !is_uuid(json_string_value(v)))
            return NULL;
        break;
    case CFG_ARG_TIME:
        if (json_is_number(v)) { /* epoch seconds, as ISO 8601 UTC text for timestamptz */
            double t = json_number_value(v);
            time_t secs;
            struct tm tm;
            char day[32];
            if (!(t >= 0 && t <= 253402300799.0)) /* before the cast: 1e300 has no time_t */
                return NULL;
            secs = (time_t)t;
            if (!gmtime_r(&secs, &tm))
                return NULL;
            (void)strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
            (void)snprintf(buf, sizeof(buf), "%s.%06dZ", day, (int)((t - (double)secs) * 1e6));
            return xstrdup(buf);
        }
        if (!json_is_string(v))
            return NULL;
        break;
    }
    return xstrdup(json_string_value(v));
}

int sql_args_bind(const struct cfg_class *cls, json_t *args, char **ret_params, struct err *err)
{
    char *params[CFG_MAX_SQL_ARGS] = {0};
    size_t n = json_array_size(args);

    if (!json_is_array(args) || n != cls->nargs)
        return err_set(err, -EINVAL, "class '%s' takes %u argument%s (got %zu)", cls->name,
                       cls->nargs, cls->nargs == 1 ? "" : "s", n);
    for (unsigned i = 0; i < cls->nargs; i++) {
        json_t *v = json_array_get(args, i);

        if (json_is_null(v))
            continue; /* SQL NULL; the statement's constraints decide */
        params[i] = bind_one(cls->arg_types[i], v);
        if (!params[i]) {
            char *shown = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            int r = err_set(err, -EINVAL, "args[%u] must be a %s (got %.40s)", i,
                            type_names[cls->arg_types[i]], shown);
            free(shown);
            sql_args_clear(params, i);
            return r;
        }
    }
    memcpy(ret_params, params, cls->nargs * sizeof(*params));
    return 0;
}

void sql_args_clear(char **params, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        free(params[i]);
        params[i] = NULL;
    }
}
