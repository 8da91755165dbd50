/* sql_args.h - a `sql` class's job args checked against its declared types and turned into
 * text parameters $1..$n (pure). */
#ifndef SQL_ARGS_H
#define SQL_ARGS_H

struct cfg_class;
struct err;
typedef struct json_t json_t;

/* Checks `args` (a JSON array) against cls->arg_types and writes cls->nargs parameters to
 * ret_params (NULL for a JSON null). On success the caller owns each non-NULL string,
 * release with sql_args_clear(). Returns 0, or -EINVAL with a sentence such as
 * "args[1] must be a uuid (got \"x\")". */
int sql_args_bind(const struct cfg_class *cls, json_t *args, char **ret_params,
                  struct err *err);
void sql_args_clear(char **params, unsigned n);

#endif
