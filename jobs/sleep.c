/* sleep.c - the `sleep` class: succeeds after args[0] milliseconds (a timer). */
#include <errno.h>
#include <stdlib.h>

#include <ev.h>
#include <jansson.h>

#include "jobs/registry.h"
#include "jobs/task.h"
#include "lib/err.h"
#include "lib/xalloc.h"

#define SLEEP_MAX_MS (7 * 86400 * 1000.0)

struct sleep_state {
    struct task *task; /* borrowed: ends when the timer fires or on cancel */
    ev_timer timer;
};

static void sleep_on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct sleep_state *st = w->data;
    struct task *task = st->task;

    free(st);
    task_succeed(task);
}

static int sleep_args_check(json_t *args, const struct cfg *cfg, struct err *err)
{
    json_t *ms = json_array_get(args, 0);

    if (!json_is_number(ms) || json_number_value(ms) < 0 || json_number_value(ms) > SLEEP_MAX_MS)
        return err_set(err, -EINVAL, "args[0] must be milliseconds 0..%.0f", SLEEP_MAX_MS);
    return 0;
}

static void sleep_start(struct task *task)
{
    json_t *ms = json_array_get(task_args(task), 0);
    struct sleep_state *st;
    struct err err = {0};

    if (sleep_args_check(task_args(task), task_env(task)->cfg, &err) < 0) {
        task_fail(task, "ArgumentError", "%s", err.msg);
        return;
    }
    st = xmalloc(sizeof(*st));
    st->task = task;
    ev_timer_init(&st->timer, sleep_on_timer, json_number_value(ms) / 1000.0, 0);
    st->timer.data = st;
    ev_timer_start(task_loop(task), &st->timer);
    task_set_state(task, st);
}

static void sleep_cancel(struct task *task)
{
    struct sleep_state *st = task_state(task);

    ev_timer_stop(task_loop(task), &st->timer);
    free(st);
}

static const struct class_arg sleep_args[] = {
    {"ms", CLASS_ARG_NUMBER, false, "250"},
};

const struct handler handler_sleep = {
    .name = "sleep",
    .args = sleep_args,
    .nargs = 1,
    .args_check = sleep_args_check,
    .start = sleep_start,
    .cancel = sleep_cancel,
};
