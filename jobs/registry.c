/* registry.c - the table of job classes: one line per class. */
#include "jobs/registry.h"

#include <stddef.h>
#include <string.h>

#include "conf/cfg.h"
#include "jobs/emotion.h"
#include "jobs/rollup.h"

static const struct handler *const handlers[] = {
    &handler_noop,
    &handler_sleep,
    &handler_fail,
    &handler_analytics_rollup,
    &handler_emotion,
    &handler_email_send,
    &handler_email_welcome,
    &handler_email_order_receipt,
};

const struct handler *handler_find(const struct cfg *cfg, const char *class_name)
{
    const struct cfg_class *cls;

    for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
        if (strcmp(handlers[i]->name, class_name) == 0)
            return handlers[i];
    cls = cfg ? cfg_class_find(cfg, class_name) : NULL;
    if (cls && cls->sql)
        return &handler_sql;
    if (cls && cls->url)
        return &handler_webhook;
    if (cls && cls->command)
        return &handler_command;
    return NULL;
}
