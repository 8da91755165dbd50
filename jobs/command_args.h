/* command_args.h - a command step's argv and environment, from its class and its job
 * (pure). The job's args never pass through a shell: they become argv items or the
 * NEXUS_JOB_ARGS variable, byte for byte. */
#ifndef COMMAND_ARGS_H
#define COMMAND_ARGS_H

#include <stddef.h>

struct cfg_class;
struct err;
typedef struct json_t json_t;
typedef const char *command_getenv_fn(const char *name);

#define COMMAND_MAX_ARG                                                                            \
    131072 /* bytes of one appended arg or of NEXUS_JOB_ARGS (Linux's                              \
              limit on one argv or environment string) */

/* What nexusd tells the child about its job (NEXUS_* variables). Borrowed strings. */
struct command_job {
    const char *jid;
    const char *class_name;
    const char *queue;
    int attempt;             /* 1 for the first */
    size_t step, nsteps;     /* 0-based step of the class's `command` list, and their number */
    json_t *args;            /* the job's args (an array), borrowed */
    const char *traceparent; /* the attempt's W3C trace context (task_trace()), or NULL */
    const char *tracestate;  /* the job's tracestate, passed on with it, or NULL */
};

/* Variables taken from nexusd's own environment besides the class's env_pass. */
extern const char *const command_inherited_env[];

/* argv of step `job->step` of `cls`, with the job's args appended as items when
 * cls->args_append: a string as it is, a number or boolean as its JSON text. An item that
 * starts with '-' would be an option of the program (tar's --checkpoint-action=exec=...):
 * refused unless cls->args_options. Caller owns the NULL-terminated vector, release with
 * command_args_free(). Returns 0, -EINVAL with a sentence such as "args[1] must be a string,
 * number or boolean to be appended to the command (got an object)". */
int command_args_argv(const struct cfg_class *cls, const struct command_job *job, char ***ret_argv,
                      struct err *err);
/* The environment: command_inherited_env and cls->env_pass from `get_env` (those unset are
 * left out; PATH defaults to /usr/local/bin:/usr/bin:/bin; with cls->user, HOME, USER and
 * LOGNAME are that user's), then cls->env, then NEXUS_JID,
 * NEXUS_CLASS, NEXUS_QUEUE, NEXUS_ATTEMPT, NEXUS_STEP ("1/2") and NEXUS_JOB_ARGS (the args
 * as compact JSON), and TRACEPARENT and TRACESTATE when the job has them. A later entry
 * replaces an earlier one of the same name. Ownership and returns as command_args_argv(). */
int command_args_env(const struct cfg_class *cls, const struct command_job *job,
                     command_getenv_fn *get_env, char ***ret_env, struct err *err);
void command_args_free(char **v); /* accepts NULL */

#endif
