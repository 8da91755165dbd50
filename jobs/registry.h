/* registry.h - job class name -> handler. */
#ifndef REGISTRY_H
#define REGISTRY_H

struct cfg;
struct task;

/* A job class. start() begins the attempt and must end it with task_succeed/fail/defer,
 * now or later from a callback on the loop; it never blocks. cancel() (timeout or shutdown:
 * task_stop_reason() says which) stops the attempt at once and frees the handler's state;
 * after it the handler must not touch the task. A handler whose start() ends the task at once needs no cancel (NULL). */
struct handler {
    const char *name;    /* the job's "class" */
    double timeout_s;    /* the class's default time limit; 0 = the worker's */
    void (*start)(struct task *task);
    void (*cancel)(struct task *task);
};

/* The handler for `class_name`: a built-in class, or a class `cfg` declares (a `sql`
 * statement, an http `url`), or NULL. Borrowed: handlers are static. */
const struct handler *handler_find(const struct cfg *cfg, const char *class_name);

extern const struct handler handler_noop;
extern const struct handler handler_sleep;
extern const struct handler handler_fail;
extern const struct handler handler_sql; /* every class with `sql` in the configuration */
extern const struct handler handler_webhook; /* every class with `url` in the configuration */
extern const struct handler handler_command; /* every class with `command` or `shell` */
extern const struct handler handler_email_send;
extern const struct handler handler_email_welcome;
extern const struct handler handler_email_order_receipt;

#endif
