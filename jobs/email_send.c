/* email_send.c - `email.send`: a message given whole in the args, or a template with values:
 *   [{"to": "ada@example.com", "subject": "Hi", "text": "...", "html": "..."}]
 *   [{"to": ["a@example.com"], "cc": "...", "template": "welcome", "vars": {...}}] */
#include <errno.h>
#include <string.h>

#include <jansson.h>

#include "conf/cfg.h"
#include "jobs/email.h"
#include "jobs/registry.h"
#include "jobs/task.h"
#include "lib/err.h"
#include "lib/xalloc.h"

static const char *const keys[] = {"to",      "cc",   "bcc",  "from",     "reply_to",
                                   "subject", "text", "html", "template", "vars"};

static int body_take(const json_t *spec, const char *key, char **dst, struct err *err)
{
    const json_t *v = json_object_get(spec, key);

    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return err_set(err, -EINVAL, "args[0].%s must be a string", key);
    *dst = xstrdup(json_string_value(v));
    return 0;
}

/* The draft from args[0]; -EINVAL with a sentence naming the field. */
static int draft_fill(const json_t *args, const struct cfg *cfg, struct email_draft *d,
                      const char **ret_class, struct err *err)
{
    const json_t *spec = json_array_get(args, 0), *tmpl, *v;
    const char *key;
    int r;

    if (json_array_size(args) != 1 || !json_is_object(spec))
        return err_set(err, -EINVAL,
                       "args must be [{\"to\": ..., \"subject\": ..., \"text\": ..."
                       "}] or [{\"to\": ..., \"template\": ..., \"vars\": {...}}]");
    json_object_foreach((json_t *)spec, key, v)
    {
        size_t i = 0;

        while (i < sizeof(keys) / sizeof(keys[0]) && strcmp(keys[i], key) != 0)
            i++;
        if (i == sizeof(keys) / sizeof(keys[0]))
            return err_set(err, -EINVAL,
                           "args[0] has an unknown key '%.64s' (known: to, cc, bcc, from, "
                           "reply_to, subject, text, html, template, vars)",
                           key);
    }
    if (!json_object_get(spec, "to"))
        return err_set(err, -EINVAL, "args[0].to is missing");
    r = email_draft_rcpts(d, EMAIL_TO, json_object_get(spec, "to"), "args[0].to", err);
    if (r == 0 && (v = json_object_get(spec, "cc")))
        r = email_draft_rcpts(d, EMAIL_CC, v, "args[0].cc", err);
    if (r == 0 && (v = json_object_get(spec, "bcc")))
        r = email_draft_rcpts(d, EMAIL_BCC, v, "args[0].bcc", err);
    if (r == 0 && (v = json_object_get(spec, "from"))) {
        r = email_draft_addr(v, "args[0].from", &d->from, err);
        d->has_from = r == 0;
    }
    if (r == 0 && (v = json_object_get(spec, "reply_to"))) {
        r = email_draft_addr(v, "args[0].reply_to", &d->reply_to, err);
        d->has_reply_to = r == 0;
    }
    if (r < 0)
        return r;
    tmpl = json_object_get(spec, "template");
    if (tmpl) {
        if (!json_is_string(tmpl))
            return err_set(err, -EINVAL, "args[0].template must be a template name");
        if (json_object_get(spec, "subject") || json_object_get(spec, "text") ||
            json_object_get(spec, "html"))
            return err_set(err, -EINVAL,
                           "args[0] gives a template and subject/text/html: "
                           "choose one");
        v = json_object_get(spec, "vars");
        if (v && !json_is_object(v))
            return err_set(err, -EINVAL, "args[0].vars must be an object");
        if (v)
            (void)json_object_update(d->vars, (json_t *)v);
        r = email_draft_render(d, cfg, json_string_value(tmpl), err);
        if (r == -EINVAL)
            *ret_class = "NexusTemplateError";
        return r;
    }
    if (json_object_get(spec, "vars"))
        return err_set(err, -EINVAL, "args[0].vars needs args[0].template");
    if (!json_is_string(json_object_get(spec, "subject")))
        return err_set(err, -EINVAL, "args[0].subject must be a string");
    r = body_take(spec, "subject", &d->subject, err);
    if (r == 0)
        r = body_take(spec, "text", &d->text, err);
    if (r == 0)
        r = body_take(spec, "html", &d->html, err);
    if (r == 0 && !d->text && !d->html)
        r = err_set(err, -EINVAL, "args[0] needs a text or an html body (or a template)");
    return r;
}

static int send_args_check(json_t *args, const struct cfg *cfg, struct err *err)
{
    struct email_draft *d = email_draft_new();
    const char *error_class = NULL;
    int r = draft_fill(args, cfg, d, &error_class, err);

    email_draft_free(d);
    return r;
}

static void send_start(struct task *task)
{
    struct email_draft *d = email_draft_new();
    const char *error_class = "ArgumentError";
    struct err err = {0};
    int r;

    r = draft_fill(task_args(task), task_env(task)->cfg, d, &error_class, &err);
    if (r < 0) {
        email_fail(task, d, error_class, &err);
        return;
    }
    email_deliver(task, d);
}

/* {"to", "subject", "text"/"html"} or {"to", "template", "vars"}, with cc, bcc, from and
 * reply_to (docs/email.md). */
static const struct class_arg send_args[] = {
    {"message", CLASS_ARG_OBJECT, false,
     "{\"to\": \"Ada <ada@example.com>\", \"subject\": \"Hello\", \"text\": \"Hi Ada\"}"},
};

const struct handler handler_email_send = {
    .name = "email.send",
    .args = send_args,
    .nargs = 1,
    .args_check = send_args_check,
    .timeout_s = 120,
    .start = send_start,
    .cancel = email_cancel,
};
