/* email.h - what the email classes share: a drafted message (recipients, subject, bodies,
 * from a template or given whole), delivered at most once per jid over SMTP, each delivery
 * recorded in nexus.email_deliveries (see docs/email.md). */
#ifndef EMAIL_H
#define EMAIL_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/mail_msg.h"

struct cfg;
struct db_rows;
struct err;
struct task;
typedef struct json_t json_t;

enum email_rcpt_kind { EMAIL_TO, EMAIL_CC, EMAIL_BCC };

/* A message being put together by a class. */
struct email_draft {
    char *tmpl;            /* owned; the template's name, NULL when given whole */
    json_t *vars;          /* owned; the template's values (an object) */
    struct mail_addr from; /* used when has_from, else smtp.from */
    bool has_from;
    struct mail_addr reply_to; /* used when has_reply_to, else smtp.reply_to if set */
    bool has_reply_to;
    struct mail_addr rcpt[MAIL_MAX_RCPTS]; /* to, then cc, then bcc */
    size_t nrcpt;
    size_t nto, ncc;             /* the first nto are To, the next ncc are Cc, the rest Bcc */
    char *subject, *text, *html; /* owned; text or html may stay NULL */
};

/* Caller owns the draft, release with email_draft_free() (accepts NULL). `vars` starts as an
 * empty object. */
struct email_draft *email_draft_new(void);
void email_draft_free(struct email_draft *d);

/* Adds the recipients of `v` (an address string or an array of them) as `kind`; kinds must
 * be added in the order to, cc, bcc. `field` names v in messages ("args[0].to"). Returns 0
 * or -EINVAL with a sentence in `err`. */
int email_draft_rcpts(struct email_draft *d, enum email_rcpt_kind kind, const json_t *v,
                      const char *field, struct err *err);
/* Parses the address string `v` into `dst` (from, reply_to). */
int email_draft_addr(const json_t *v, const char *field, struct mail_addr *dst, struct err *err);
/* Sets subject, text and html from the template `name` of cfg's smtp.templates, filled
 * with d->vars (HTML part escaped). Copies `name` into d->tmpl. -EINVAL with a sentence
 * (an unknown template, a missing value). */
int email_draft_render(struct email_draft *d, const struct cfg *cfg, const char *name,
                       struct err *err);

/* Completes a draft from the one row set of a lookup. Returns 0, or a negative errno with
 * `err` filled and *ret_class the job's error class (e.g. "NexusRecordNotFound"). */
typedef int email_fill_fn(const struct db_rows *rows, struct email_draft *d, const struct cfg *cfg,
                          const char **ret_class, struct err *err);

/* The steps of an attempt; each ends the task (now or later). email_lookup() starts a draft
 * with the template values `vars` (a JSON object, borrowed; NULL for none), runs `sql` with
 * the one parameter `param` (copied) and hands the rows to `fill`, then delivers;
 * email_deliver() delivers a complete draft, taking ownership of `d`, also on failure. The
 * task's state is then the attempt's: the class's cancel must be email_cancel(). */
void email_lookup(struct task *task, const json_t *vars, const char *sql, const char *param,
                  email_fill_fn *fill);
void email_deliver(struct task *task, struct email_draft *d);
void email_cancel(struct task *task);

/* Fails the task with `error_class` and err's sentence, freeing `d`. */
void email_fail(struct task *task, struct email_draft *d, const char *error_class,
                const struct err *err);

#endif
