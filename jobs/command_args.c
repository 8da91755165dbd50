/* command_args.c - argv and environment vectors of a command step. */
#include "jobs/command_args.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "conf/cfg.h"
#include "lib/err.h"
#include "lib/job.h"
#include "lib/xalloc.h"

#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

const char *const command_inherited_env[] = {"PATH",   "HOME", "USER",   "LOGNAME", "LANG",
                                             "LC_ALL", "TZ",   "TMPDIR", NULL};

/* A growing NULL-terminated vector of owned strings. */
struct vec {
    char **v;
    size_t n, cap;
};

/* Takes ownership of `s`. */
static void vec_push(struct vec *vec, char *s)
{
    if (vec->n + 2 > vec->cap) {
        vec->cap = vec->cap ? vec->cap * 2 : 16;
        vec->v = xreallocarray(vec->v, vec->cap, sizeof(*vec->v));
    }
    vec->v[vec->n++] = s;
    vec->v[vec->n] = NULL;
}

/* One appended arg as text; *ret_text owned by the caller. */
static int arg_text(json_t *v, size_t i, char **ret_text, struct err *err)
{
    if (json_is_string(v)) {
        if (strlen(json_string_value(v)) != json_string_length(v))
            return err_set(err, -EINVAL,
                           "args[%zu] contains a NUL byte, which no argv item can "
                           "hold",
                           i);
        if (json_string_length(v) > COMMAND_MAX_ARG)
            return err_set(err, -EINVAL, "args[%zu] is %zu bytes: at most %d can be appended", i,
                           json_string_length(v), COMMAND_MAX_ARG);
        *ret_text = xstrdup(json_string_value(v));
    } else if (json_is_number(v) || json_is_boolean(v)) {
        *ret_text = json_dumps(v, JSON_ENCODE_ANY);
    } else {
        return err_set(err, -EINVAL,
                       "args[%zu] must be a string, number or boolean to be appended to the "
                       "command (got %s)",
                       i, job_json_phrase(v));
    }
    return 0;
}

int command_args_argv(const struct cfg_class *cls, const struct command_job *job, char ***ret_argv,
                      struct err *err)
{
    struct vec vec = {0};
    char *const *argv = cls->command[job->step];
    size_t i;
    json_t *v;
    int r = 0;

    for (size_t k = 0; argv[k]; k++)
        vec_push(&vec, xstrdup(argv[k]));
    if (cls->args_append) {
        json_array_foreach(job->args, i, v)
        {
            char *text = NULL;

            r = arg_text(v, i, &text, err);
            if (r == 0 && text[0] == '-' && !cls->args_options) {
                free(text);
                r = err_set(err, -EINVAL,
                            "args[%zu] starts with '-': the job would choose an option of the "
                            "program, which class %s does not allow (args_options = true does)",
                            i, cls->name);
                break;
            }
            if (r < 0)
                break;
            vec_push(&vec, text);
        }
    }
    if (r < 0) {
        command_args_free(vec.v);
        return r;
    }
    *ret_argv = vec.v;
    return 0;
}

/* Sets NAME=value in `vec`, replacing an earlier NAME. */
static void env_set(struct vec *vec, const char *name, size_t name_len, const char *value)
{
    size_t vlen = strlen(value);
    char *entry = xmalloc(name_len + vlen + 2);

    memcpy(entry, name, name_len);
    entry[name_len] = '=';
    memcpy(entry + name_len + 1, value, vlen + 1);
    for (size_t i = 0; i < vec->n; i++) {
        if (strncmp(vec->v[i], entry, name_len + 1) == 0) {
            free(vec->v[i]);
            vec->v[i] = entry;
            return;
        }
    }
    vec_push(vec, entry);
}

static void env_from(struct vec *vec, const char *name, command_getenv_fn *get_env)
{
    const char *value = get_env ? get_env(name) : NULL;

    if (!value && strcmp(name, "PATH") == 0)
        value = DEFAULT_PATH;
    if (value)
        env_set(vec, name, strlen(name), value);
}

static int env_job(struct vec *vec, const struct command_job *job, struct err *err)
{
    char num[64];
    char *args;
    int r;

    args = json_dumps(job->args, JSON_COMPACT | JSON_ENCODE_ANY);
    if (strlen(args) > COMMAND_MAX_ARG) {
        r = err_set(err, -EINVAL,
                    "the job's args are %zu bytes as JSON: NEXUS_JOB_ARGS holds "
                    "at most %d",
                    strlen(args), COMMAND_MAX_ARG);
        free(args);
        return r;
    }
    env_set(vec, "NEXUS_JOB_ARGS", 14, args);
    free(args);
    env_set(vec, "NEXUS_JID", 9, job->jid);
    env_set(vec, "NEXUS_CLASS", 11, job->class_name);
    env_set(vec, "NEXUS_QUEUE", 11, job->queue);
    (void)snprintf(num, sizeof(num), "%d", job->attempt);
    env_set(vec, "NEXUS_ATTEMPT", 13, num);
    (void)snprintf(num, sizeof(num), "%zu/%zu", job->step + 1, job->nsteps);
    env_set(vec, "NEXUS_STEP", 10, num);
    if (job->traceparent)
        env_set(vec, "TRACEPARENT", 11, job->traceparent);
    if (job->traceparent && job->tracestate)
        env_set(vec, "TRACESTATE", 10, job->tracestate);
    return 0;
}

int command_args_env(const struct cfg_class *cls, const struct command_job *job,
                     command_getenv_fn *get_env, char ***ret_env, struct err *err)
{
    struct vec vec = {0};
    int r;

    for (size_t i = 0; command_inherited_env[i]; i++)
        env_from(&vec, command_inherited_env[i], get_env);
    if (cls->user) { /* the user the child runs as, not nexusd's */
        env_set(&vec, "HOME", 4, cls->home ? cls->home : "/");
        env_set(&vec, "USER", 4, cls->user);
        env_set(&vec, "LOGNAME", 7, cls->user);
    }
    for (size_t i = 0; cls->env_pass && cls->env_pass[i]; i++)
        env_from(&vec, cls->env_pass[i], get_env);
    for (size_t i = 0; cls->env && cls->env[i]; i++) {
        const char *eq = strchr(cls->env[i], '='); /* cfg checked there is one */
        env_set(&vec, cls->env[i], (size_t)(eq - cls->env[i]), eq + 1);
    }
    r = env_job(&vec, job, err); /* NEXUS_* are always set: vec.v is not NULL */
    if (r < 0) {
        command_args_free(vec.v);
        return r;
    }
    *ret_env = vec.v;
    return 0;
}

void command_args_free(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}
