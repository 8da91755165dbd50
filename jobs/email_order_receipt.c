/* email_order_receipt.c - `email.order_receipt` [order_id] or [order_id, {vars}]: the
 * "order_receipt" template sent to the buyer, from the order joined to its product. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jobs/email.h"
#include "jobs/registry.h"
#include "jobs/task.h"
#include "lib/err.h"
#include "sql/db.h"

static const char order_sql[] =
    "SELECT o.id, o.email, o.name, o.status, o.amount,"
    " to_char(o.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI \"UTC\"'),"
    " p.id, p.name, p.description, p.price"
    " FROM orders o JOIN products p ON p.id = o.product_id WHERE o.id = $1::uuid";

/* Cents as "19.00". */
static const char *money(const char *cents, char *buf, size_t size)
{
    long long c = strtoll(cents ? cents : "0", NULL, 10);

    (void)snprintf(buf, size, "%s%lld.%02lld", c < 0 ? "-" : "", llabs(c) / 100, llabs(c) % 100);
    return buf;
}

static int order_fill(const struct db_rows *rows, struct email_draft *d, const struct cfg *cfg,
                      const char **ret_class, struct err *err)
{
    char amount[32], price[32];
    const char *name;
    json_t *order, *product, *email;
    size_t n;
    int r;

    if (db_rows_count(rows) == 0) {
        *ret_class = "NexusRecordNotFound";
        return err_set(err, -ENOENT, "no order with this id in orders");
    }
    order = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "id", db_rows_get(rows, 0, 0), "email",
                      db_rows_get(rows, 0, 1), "name", db_rows_get(rows, 0, 2), "status",
                      db_rows_get(rows, 0, 3), "amount",
                      money(db_rows_get(rows, 0, 4), amount, sizeof(amount)), "amount_cents",
                      db_rows_get(rows, 0, 4), "created_at", db_rows_get(rows, 0, 5));
    product = json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", db_rows_get(rows, 0, 6), "name",
                        db_rows_get(rows, 0, 7), "description", db_rows_get(rows, 0, 8), "price",
                        money(db_rows_get(rows, 0, 9), price, sizeof(price)), "price_cents",
                        db_rows_get(rows, 0, 9));
    email = json_string(db_rows_get(rows, 0, 1));
    /* NULL for an SQL NULL or a text that is not UTF-8 */
    r = order && product && email && json_object_set(d->vars, "order", order) == 0 &&
                json_object_set(d->vars, "product", product) == 0
            ? 0
            : -EINVAL;
    json_decref(order);
    json_decref(product);
    if (r == 0)
        r = email_draft_rcpts(d, EMAIL_TO, email, "orders.email", err);
    else
        (void)err_set(err, r, "the orders row holds a NULL or a text that is not UTF-8");
    json_decref(email);
    if (r < 0)
        return r;
    /* the buyer's name as display name; a control character in it is shown as a space
     * (the header encodes the name, so it cannot add a line either way) */
    name = db_rows_get(rows, 0, 2);
    n = strlen(name) < MAIL_MAX_NAME ? strlen(name) : 0;
    for (size_t i = 0; i < n; i++)
        d->rcpt[0].name[i] = (unsigned char)name[i] < 0x20 || name[i] == 0x7f ? ' ' : name[i];
    d->rcpt[0].name[n] = '\0';
    r = email_draft_render(d, cfg, "order_receipt", err);
    if (r == -EINVAL)
        *ret_class = "NexusTemplateError";
    return r;
}

static bool uuid_ok(const char *s)
{
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        char c = s[i];

        if (dash ? c != '-'
                 : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return false;
    }
    return s[36] == '\0';
}

static int receipt_args_check(json_t *args, const struct cfg *cfg, struct err *err)
{
    const json_t *id = json_array_get(args, 0), *vars = json_array_get(args, 1);

    if (json_array_size(args) < 1 || json_array_size(args) > 2 || !json_is_string(id) ||
        !uuid_ok(json_string_value(id)) || (vars && !json_is_object(vars)))
        return err_set(err, -EINVAL,
                       "args must be [order_id] or [order_id, {template values}] with order_id "
                       "a UUID string");
    return 0;
}

static void receipt_start(struct task *task)
{
    const json_t *args = task_args(task), *id = json_array_get(args, 0),
                 *vars = json_array_get(args, 1);
    struct err err = {0};

    if (receipt_args_check(task_args(task), task_env(task)->cfg, &err) < 0) {
        task_fail(task, "ArgumentError", "%s", err.msg);
        return;
    }
    email_lookup(task, vars, order_sql, json_string_value(id), order_fill);
}

static const struct class_arg receipt_args[] = {
    {"orderId", CLASS_ARG_UUID, false, "\"3f2c8e1a-5b7d-4c9e-8a1f-2d3b4c5e6f70\""},
    {"values", CLASS_ARG_OBJECT, true, "{\"note\": \"thank you\"}"},
};

const struct handler handler_email_order_receipt = {
    .name = "email.order_receipt",
    .args = receipt_args,
    .nargs = 2,
    .args_check = receipt_args_check,
    .timeout_s = 120,
    .start = receipt_start,
    .cancel = email_cancel,
};
