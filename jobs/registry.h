/* registry.h - the job classes: class name (or the class's configuration) -> handler, and the
 * hooks the daemon runs over every handler at start-up, reload and exit. */
#ifndef REGISTRY_H
#define REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

struct cfg;
struct cfg_class;
struct err;
struct ev_loop;
struct task;
typedef struct json_t json_t;

/* The JSON a producer must send as one argument of a class (`nexusctl types` writes each as
 * its TypeScript type). */
enum class_arg_type {
    CLASS_ARG_ANY,       /* any JSON value */
    CLASS_ARG_STRING,    /* a string */
    CLASS_ARG_UUID,      /* a string in 8-4-4-4-12 hex form */
    CLASS_ARG_NUMBER,    /* a number */
    CLASS_ARG_INTEGER,   /* a whole number */
    CLASS_ARG_BOOLEAN,   /* true or false */
    CLASS_ARG_OBJECT,    /* an object */
    CLASS_ARG_ARRAY,     /* an array */
    CLASS_ARG_TIME,      /* an ISO 8601 string or epoch seconds */
    CLASS_ARG_REF,       /* a string, a whole number or null (a reference to something) */
};

/* One element of a class's argument tuple. */
struct class_arg {
    const char *name;         /* an identifier, e.g. "userId" */
    enum class_arg_type type;
    bool optional;            /* it may be left out, and so may every later one */
    const char *example;      /* JSON text of a value the handler accepts */
};

/* A job class, defined in its own file as `const struct handler handler_<name>` and listed
 * once in the table in jobs/registry.c.
 *
 * start() begins the attempt and must end it with task_succeed/fail/defer, now or later from a
 * callback on the loop; it never blocks. cancel() (timeout or shutdown: task_stop_reason() says
 * which) stops the attempt at once and frees the handler's state; after it the handler must not
 * touch the task. A handler whose start() ends the task at once needs no cancel (NULL).
 * The other members are optional (NULL). */
struct handler {
    const char *name; /* the job's "class"; for a handler with claims(), only a label */
    double timeout_s; /* the class's default time limit; 0 = the worker's */
    /* The argument tuple the class takes (`nexusctl types`, processes' records); NULL: not
     * declared, any args. Static. */
    const struct class_arg *args;
    unsigned nargs;
    /* The args as start() checks them before anything else: 0, or -EINVAL with the sentence
     * it fails the job with. The declaration above is tested against it (classes_test). */
    int (*args_check)(json_t *args, const struct cfg *cfg, struct err *err);
    void (*start)(struct task *task);
    void (*cancel)(struct task *task);
    /* Serves every class the configuration declares that this returns true for (a `sql`
     * statement, an http `url`, a `command`), instead of one class by name. */
    bool (*claims)(const struct cfg_class *cls);
    /* At start-up, once, before anything raises the process's resource limits. */
    void (*init)(void);
    /* At start-up and after a reload: warnings about the configuration (logged). */
    void (*check)(const struct cfg *cfg);
    /* For the daemon's exit, after the worker stopped and before it is freed: runs `loop` until
     * what cancelled attempts left behind is over, for a bounded time. */
    void (*drain)(struct ev_loop *loop);
};

/* The handler for `class_name`: a built-in class, or a class `cfg` declares that a handler
 * claims, or NULL. Borrowed: handlers are static. */
const struct handler *handler_find(const struct cfg *cfg, const char *class_name);

/* The `i`th handler of the table, NULL past its end. Borrowed: handlers are static. */
const struct handler *handler_at(size_t i);

/* Each runs that hook of every handler that has it, in the table's order. */
void handlers_init(void);
void handlers_check(const struct cfg *cfg);
void handlers_drain(struct ev_loop *loop);

#endif
