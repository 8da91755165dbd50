/* registry.c - the table of job classes: one line per class. */
#include "jobs/registry.h"

#include <stddef.h>
#include <string.h>

#include "conf/cfg.h"

/* Every handler, in the order handler_find() tries them: the built-in classes by name, then
 * the handlers that claim classes of the configuration (sql before url before command).
 * Adding a class: its file defines `const struct handler handler_<name>`; add X(<name>) here. */
#define HANDLERS(X)                                                                                \
    X(noop)                                                                                        \
    X(sleep)                                                                                       \
    X(fail)                                                                                        \
    X(analytics_rollup)                                                                            \
    X(emotion)                                                                                     \
    X(email_send)                                                                                  \
    X(email_welcome)                                                                               \
    X(email_order_receipt)                                                                         \
    X(sql)                                                                                         \
    X(webhook)                                                                                     \
    X(command)

#define HANDLER_DECLARE(name) extern const struct handler handler_##name;
#define HANDLER_ENTRY(name) &handler_##name,

HANDLERS(HANDLER_DECLARE)

static const struct handler *const handlers[] = {HANDLERS(HANDLER_ENTRY)};

#define NHANDLERS (sizeof(handlers) / sizeof(handlers[0]))

const struct handler *handler_find(const struct cfg *cfg, const char *class_name)
{
    const struct cfg_class *cls;

    for (size_t i = 0; i < NHANDLERS; i++)
        if (!handlers[i]->claims && strcmp(handlers[i]->name, class_name) == 0)
            return handlers[i];
    cls = cfg ? cfg_class_find(cfg, class_name) : NULL;
    for (size_t i = 0; cls && i < NHANDLERS; i++)
        if (handlers[i]->claims && handlers[i]->claims(cls))
            return handlers[i];
    return NULL;
}

const struct handler *handler_at(size_t i)
{
    return i < NHANDLERS ? handlers[i] : NULL;
}

void handlers_init(void)
{
    for (size_t i = 0; i < NHANDLERS; i++)
        if (handlers[i]->init)
            handlers[i]->init();
}

void handlers_check(const struct cfg *cfg)
{
    for (size_t i = 0; i < NHANDLERS; i++)
        if (handlers[i]->check)
            handlers[i]->check(cfg);
}

void handlers_drain(struct ev_loop *loop)
{
    for (size_t i = 0; i < NHANDLERS; i++)
        if (handlers[i]->drain)
            handlers[i]->drain(loop);
}
