/* email_welcome.c - `email.welcome` [user_id] or [user_id, {vars}]: the "welcome" template
 * sent to the user's address, read from the app's `users` table. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "jobs/email.h"
#include "jobs/registry.h"
#include "jobs/task.h"
#include "lib/err.h"
#include "sql/db.h"

static const char user_sql[] =
    "SELECT id, email, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') FROM users "
    "WHERE id = $1::integer";

static int user_fill(const struct db_rows *rows, struct email_draft *d, const struct cfg *cfg,
                     const char **ret_class, struct err *err)
{
    json_t *user, *email;
    int r;

    if (db_rows_count(rows) == 0) {
        *ret_class = "NexusRecordNotFound";
        return err_set(err, -ENOENT, "no user with this id in users");
    }
    email = json_string(db_rows_get(rows, 0, 1));
    user = json_pack("{s:s, s:s, s:s}", "id", db_rows_get(rows, 0, 0), "email",
                     db_rows_get(rows, 0, 1), "created_at", db_rows_get(rows, 0, 2));
    /* NULL for an SQL NULL or a text that is not UTF-8 */
    r = email && user && json_object_set(d->vars, "user", user) == 0 ? 0 : -EINVAL;
    json_decref(user);
    if (r < 0) {
        json_decref(email);
        return err_set(err, r, "the users row holds a NULL or a text that is not UTF-8");
    }
    r = email_draft_rcpts(d, EMAIL_TO, email, "users.email", err);
    json_decref(email);
    if (r < 0)
        return r;
    r = email_draft_render(d, cfg, "welcome", err);
    if (r == -EINVAL)
        *ret_class = "NexusTemplateError";
    return r;
}

static int welcome_args_check(json_t *args, const struct cfg *cfg, struct err *err)
{
    const json_t *id = json_array_get(args, 0), *vars = json_array_get(args, 1);

    if (json_array_size(args) < 1 || json_array_size(args) > 2 || !json_is_integer(id) ||
        json_integer_value(id) < 1 || json_integer_value(id) > 2147483647 ||
        (vars && !json_is_object(vars)))
        return err_set(err, -EINVAL,
                       "args must be [user_id] or [user_id, {template values}] with user_id a "
                       "positive integer");
    return 0;
}

static void welcome_start(struct task *task)
{
    const json_t *args = task_args(task), *id = json_array_get(args, 0),
                 *vars = json_array_get(args, 1);
    struct err err = {0};
    char param[32];

    if (welcome_args_check(task_args(task), task_env(task)->cfg, &err) < 0) {
        task_fail(task, "ArgumentError", "%s", err.msg);
        return;
    }
    (void)snprintf(param, sizeof(param), "%" JSON_INTEGER_FORMAT, json_integer_value(id));
    email_lookup(task, vars, user_sql, param, user_fill);
}

static const struct class_arg welcome_args[] = {
    {"userId", CLASS_ARG_INTEGER, false, "42"},
    {"values", CLASS_ARG_OBJECT, true, "{\"coupon\": \"WELCOME10\"}"},
};

const struct handler handler_email_welcome = {
    .name = "email.welcome",
    .args = welcome_args,
    .nargs = 2,
    .args_check = welcome_args_check,
    .timeout_s = 120,
    .start = welcome_start,
    .cancel = email_cancel,
};
