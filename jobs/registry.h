/* registry.h - the job classes: class name (or the class's configuration) -> handler, and the
 * hooks the daemon runs over every handler at start-up, reload and exit. */
#ifndef REGISTRY_H
#define REGISTRY_H

#include <stdbool.h>

struct cfg;
struct cfg_class;
struct ev_loop;
struct task;

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

/* Each runs that hook of every handler that has it, in the table's order. */
void handlers_init(void);
void handlers_check(const struct cfg *cfg);
void handlers_drain(struct ev_loop *loop);

#endif
