/* fail.c - the `fail` class: always fails with args[0] as the message. */
#include <jansson.h>

#include "jobs/registry.h"
#include "jobs/task.h"

static void fail_start(struct task *task)
{
    const char *msg = json_string_value(json_array_get(task_args(task), 0));

    task_fail(task, "NexusFail", "%s", msg ? msg : "failed on purpose");
}

static const struct class_arg fail_args[] = {
    {"message", CLASS_ARG_STRING, true, "\"failed on purpose\""},
};

const struct handler handler_fail = {
    .name = "fail",
    .args = fail_args,
    .nargs = 1,
    .start = fail_start,
};
