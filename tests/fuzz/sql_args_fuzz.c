/* sql_args_fuzz.c - libFuzzer target: the first bytes choose a `sql` class's argument types,
 * the rest is the job's args (JSON). Bound parameters are NUL-terminated text, NULL only for
 * a JSON null; a refusal has a sentence; nothing leaks (ASan). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "conf/cfg.h"
#include "jobs/sql_args.h"
#include "lib/err.h"

#define TYPES 7 /* CFG_ARG_TEXT..CFG_ARG_TIME */

static void fuzz_assert(int ok, const char *what)
{
    if (ok)
        return;
    (void)fprintf(stderr, "sql_args_fuzz: %s\n", what);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cfg_class cls = {.name = "fuzz.sql"};
    char *params[CFG_MAX_SQL_ARGS];
    struct err err = {0};
    json_t *args;
    size_t used;

    if (size < 1)
        return 0;
    cls.nargs = data[0] % (CFG_MAX_SQL_ARGS + 1);
    used = 1 + cls.nargs;
    if (size < used)
        return 0;
    for (unsigned i = 0; i < cls.nargs; i++)
        cls.arg_types[i] = (enum cfg_arg_type)(data[1 + i] % TYPES);
    args = json_loadb((const char *)data + used, size - used, JSON_DECODE_ANY, NULL);
    if (!args)
        return 0;
    if (sql_args_bind(&cls, args, params, &err) == 0) {
        fuzz_assert(json_is_array(args) && json_array_size(args) == cls.nargs,
                    "bound args that are not an array of nargs");
        for (unsigned i = 0; i < cls.nargs; i++)
            fuzz_assert((params[i] == NULL) == json_is_null(json_array_get(args, i)),
                        "a NULL parameter for a value, or text for null");
        sql_args_clear(params, cls.nargs);
    } else {
        fuzz_assert(err.msg[0] != '\0', "a refusal without a reason");
    }
    json_decref(args);
    return 0;
}
