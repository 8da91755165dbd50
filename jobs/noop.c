/* noop.c - the `noop` class: succeeds at once (smoke tests, benchmarks). */
#include "jobs/registry.h"
#include "jobs/task.h"

static void noop_start(struct task *task)
{
    task_succeed(task);
}

const struct handler handler_noop = {
    .name = "noop",
    .start = noop_start,
};
