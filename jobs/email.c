/* email.c - one attempt of an email job: (lookup ->) build -> claim the jid's delivery row
 * -> SMTP -> record the server's answer. A row already 'sent' ends the attempt with no mail. */
#include "jobs/email.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "conf/cfg.h"
#include "jobs/smtp.h"
#include "jobs/task.h"
#include "lib/err.h"
#include "lib/job.h"
#include "lib/log.h"
#include "lib/mail_tmpl.h"
#include "lib/xalloc.h"
#include "lib/xfer.h"
#include "sql/db.h"

#define LEASE_MARGIN_S 30.0 /* a 'sending' row older than the SMTP limits plus this is stale */
#define BUSY_DEFER_S 5.0    /* wait for a claim racing ours */

/* Who took the jid: this attempt ('claimed'), an earlier delivery ('sent'), another
 * attempt still within its lease ('sending'), another job ('reused': another class, or args
 * with another SHA-256; rows from before migration 009 have none and match any args). A
 * 'failed' row of the same job, or a 'sending' one whose lease ran out (its process died
 * mid-send), is taken over. The fourth column is the row's class. */
static const char claim_sql[] =
    "WITH claim AS ("
    " INSERT INTO nexus.email_deliveries AS d"
    " (jid, class, template, recipients, subject, message_id, status, args_sha256)"
    " VALUES ($1, $2, $3, $4::text[], $5, $6, 'sending', $8)"
    " ON CONFLICT (jid) DO UPDATE SET status = 'sending', attempts = d.attempts + 1,"
    " class = EXCLUDED.class, template = EXCLUDED.template, recipients = EXCLUDED.recipients,"
    " subject = EXCLUDED.subject, args_sha256 = EXCLUDED.args_sha256, error = NULL,"
    " updated_at = now()"
    " WHERE d.class = EXCLUDED.class"
    " AND (d.args_sha256 IS NULL OR d.args_sha256 = EXCLUDED.args_sha256)"
    " AND (d.status = 'failed' OR (d.status = 'sending'"
    " AND d.updated_at < now() - $7::double precision * interval '1 second'))"
    " RETURNING d.attempts)"
    " SELECT 'claimed', attempts, 0::double precision, NULL::text FROM claim"
    " UNION ALL"
    " SELECT CASE WHEN d.class <> $2 OR d.args_sha256 <> $8 THEN 'reused' ELSE d.status END,"
    " d.attempts, extract(epoch FROM d.updated_at - now()) + $7, d.class"
    " FROM nexus.email_deliveries d WHERE d.jid = $1 AND NOT EXISTS (SELECT 1 FROM claim)";

static const char sent_sql[] =
    "UPDATE nexus.email_deliveries SET status = 'sent', smtp_code = $2, smtp_reply = $3,"
    " error = NULL, sent_at = now(), updated_at = now() WHERE jid = $1";

static const char failed_sql[] =
    "UPDATE nexus.email_deliveries SET status = 'failed', smtp_code = $2, smtp_reply = $3,"
    " error = $4, updated_at = now() WHERE jid = $1 AND status = 'sending'";

enum step { STEP_LOOKUP, STEP_CLAIM, STEP_SEND, STEP_RECORD };

/* One attempt. While a query is out, a cancel only cuts the link (task NULL): the answer
 * frees the state. While SMTP runs, a cancel aborts it and frees the state at once. */
struct email {
    struct task *task; /* NULL after cancel */
    struct db_pool *db;
    enum step step;
    struct email_draft *d; /* owned */
    email_fill_fn *fill;
    char jid[JOB_MAX_JID + 1];
    char class_name[JOB_MAX_CLASS + 1];
    char *msg; /* owned until handed to smtp_send() */
    size_t len;
    struct smtp_send *send; /* while step == STEP_SEND */
    struct smtp_result res; /* the answer, strings copied below */
    char reply[SMTP_REPLY_MAX];
    char error_class[64];
    char error[SMTP_REPLY_MAX + 512];
};

static void email_free(struct email *e)
{
    if (!e)
        return;
    email_draft_free(e->d);
    free(e->msg);
    free(e);
}

/* ---- drafts ------------------------------------------------------------------------- */

struct email_draft *email_draft_new(void)
{
    struct email_draft *d = xcalloc(1, sizeof(*d));

    d->vars = json_object();
    return d;
}

void email_draft_free(struct email_draft *d)
{
    if (!d)
        return;
    free(d->tmpl);
    json_decref(d->vars);
    free(d->subject);
    free(d->text);
    free(d->html);
    free(d);
}

int email_draft_addr(const json_t *v, const char *field, struct mail_addr *dst, struct err *err)
{
    if (!json_is_string(v))
        return err_set(err, -EINVAL, "%s must be an email address string", field);
    if (mail_addr_parse(json_string_value(v), dst, err) < 0)
        return err_prefix(err, "%s", field);
    return 0;
}

int email_draft_rcpts(struct email_draft *d, enum email_rcpt_kind kind, const json_t *v,
                      const char *field, struct err *err)
{
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    char name[96];
    int r;

    if (!json_is_array(v) && !json_is_string(v))
        return err_set(err, -EINVAL, "%s must be an address or an array of addresses", field);
    if (d->nrcpt + n > MAIL_MAX_RCPTS)
        return err_set(err, -EINVAL, "a message may have at most %d recipients (to, cc and bcc)",
                       MAIL_MAX_RCPTS);
    for (size_t i = 0; i < n; i++) {
        (void)snprintf(name, sizeof(name), json_is_array(v) ? "%s[%zu]" : "%s", field, i);
        r = email_draft_addr(json_is_array(v) ? json_array_get(v, i) : v, name, &d->rcpt[d->nrcpt],
                             err);
        if (r < 0)
            return r;
        d->nrcpt++;
        if (kind == EMAIL_TO)
            d->nto++;
        else if (kind == EMAIL_CC)
            d->ncc++;
    }
    return 0;
}

int email_draft_render(struct email_draft *d, const struct cfg *cfg, const char *name,
                       struct err *err)
{
    const struct mail_tmpl *t = mail_tmpl_find(cfg->smtp_tmpls, name);
    char what[MAIL_TMPL_MAX_NAME + 16];
    int r;

    if (!t)
        return err_set(err, -EINVAL, "no template '%s' in %s", name, cfg->smtp_templates);
    d->tmpl = xstrdup(name);
    (void)snprintf(what, sizeof(what), "%s.subject", name);
    r = mail_tmpl_render(t->subject, what, d->vars, MAIL_TMPL_RAW, &d->subject, err);
    if (r == 0 && t->text) {
        (void)snprintf(what, sizeof(what), "%s.txt", name);
        r = mail_tmpl_render(t->text, what, d->vars, MAIL_TMPL_RAW, &d->text, err);
    }
    if (r == 0 && t->html) {
        (void)snprintf(what, sizeof(what), "%s.html", name);
        r = mail_tmpl_render(t->html, what, d->vars, MAIL_TMPL_HTML, &d->html, err);
    }
    return r;
}

void email_fail(struct task *task, struct email_draft *d, const char *error_class,
                const struct err *err)
{
    email_draft_free(d);
    task_fail(task, error_class, "%s", err->msg);
}

/* ---- after a cancel: queries whose answer nobody waits for ---------------------------- */

/* db_query() refused a query of `e` (r < 0): the job fails, to be retried. Frees `e`. */
static void query_refused(struct email *e, int r)
{
    struct task *task = e->task;

    task_set_state(task, NULL);
    email_free(e);
    task_fail(task, r == -EAGAIN ? "NexusDatabaseBusy" : "NexusDatabaseDown",
              r == -EAGAIN ? "too many queries waiting for a connection"
                           : "PostgreSQL unreachable");
}

/* A query of `e` failed (err < 0): the job fails with PostgreSQL's sentence after `what`.
 * Frees `e`. */
static void query_failed(struct email *e, int err, const struct db_rows *rows, const char *what)
{
    struct task *task = e->task;

    task_set_state(task, NULL);
    email_free(e);
    task_fail(task, err == -ENOTCONN || err == -ECANCELED ? "NexusDatabaseDown" : "PG::Error",
              "%s%s", what, db_rows_error(rows));
}

static void released_on_done(const struct db_rows *rows, int err, void *arg)
{
    (void)rows;
    (void)err;
    (void)arg;
}

/* Marks this attempt's claim failed, so the next attempt need not wait for the lease. */
static void claim_release(struct email *e, const char *why)
{
    const char *params[] = {e->jid, NULL, NULL, why};

    if (db_query(e->db, failed_sql, params, 4, released_on_done, NULL) < 0)
        log_warn("event=email_release_failed jid=%s err=\"PostgreSQL unreachable; the next "
                 "attempt waits for the lease\"",
                 log_q(e->jid));
}

/* ---- record ------------------------------------------------------------------------- */

/* The attempt's end once its outcome is written (or could not be). */
static void record_finish(struct email *e, int err, const char *why)
{
    struct task *task = e->task;
    bool sent = e->res.outcome == SMTP_SENT;

    if (err < 0)
        log_warn("event=email_unrecorded jid=%s status=%s err=%s", log_q(e->jid),
                 sent ? "sent" : "failed", log_q(why));
    if (task) {
        task_set_state(task, NULL);
        if (sent)
            task_succeed(task); /* also when unrecorded: the server has the message */
        else
            task_fail(task, e->error_class, "%s", e->error);
    }
    email_free(e);
}

static void record_on_done(const struct db_rows *rows, int err, void *arg)
{
    record_finish(arg, err, db_rows_error(rows));
}

static void send_on_done(const struct smtp_result *res, void *arg)
{
    struct email *e = arg;
    bool sent = res->outcome == SMTP_SENT;
    const char *params[4];
    char code[16];
    int r;

    e->send = NULL;
    e->step = STEP_RECORD;
    e->res = *res;
    (void)snprintf(e->reply, sizeof(e->reply), "%s", res->reply);
    (void)snprintf(e->error_class, sizeof(e->error_class), "%s", res->error_class);
    (void)snprintf(e->error, sizeof(e->error), "%s", res->error);
    (void)snprintf(code, sizeof(code), "%d", res->code);
    params[0] = e->jid;
    params[1] = res->code ? code : NULL;
    params[2] = *e->reply ? e->reply : NULL;
    params[3] = e->error;
    if (sent)
        log_debug("event=email_sent jid=%s class=%s code=%d reply=%s", log_q(e->jid),
                  log_q(e->class_name), res->code, log_q(e->reply));
    r = db_query(e->db, sent ? sent_sql : failed_sql, params, sent ? 3 : 4, record_on_done, e);
    if (r < 0)
        record_finish(e, r, r == -EAGAIN ? "too many queries waiting" : "PostgreSQL unreachable");
}

/* ---- send --------------------------------------------------------------------------- */

/* smtp.starttls as jobs/smtp.c takes it; index = enum cfg_starttls */
static const enum smtp_tls starttls_modes[] = {
    [CFG_STARTTLS_TRY] = SMTP_TLS_TRY,
    [CFG_STARTTLS_ALWAYS] = SMTP_TLS_ALWAYS,
    [CFG_STARTTLS_NEVER] = SMTP_TLS_NEVER,
};

static void send_start(struct email *e)
{
    const struct cfg *cfg = task_env(e->task)->cfg;
    const char *rcpts[MAIL_MAX_RCPTS];
    const struct mail_addr *from = e->d->has_from ? &e->d->from : NULL;
    struct mail_addr cfg_from;
    struct smtp_server srv = {
        .url = cfg->smtp_url,
        .username = cfg->smtp_username,
        .password = cfg->smtp_password,
        .tls = starttls_modes[cfg->smtp_starttls],
        .allow_plaintext_auth = cfg->smtp_allow_plaintext_auth,
        .ca_file = cfg->smtp_ca_file,
        .connect_timeout_s = cfg->smtp_connect_timeout_s,
        .timeout_s = cfg->smtp_timeout_s,
    };
    int r;

    if (!from) {
        (void)mail_addr_parse(cfg->smtp_from, &cfg_from, NULL); /* checked at load */
        from = &cfg_from;
    }
    for (size_t i = 0; i < e->d->nrcpt; i++)
        rcpts[i] = e->d->rcpt[i].addr;
    e->step = STEP_SEND;
    r = smtp_send(task_loop(e->task), task_env(e->task)->xfer, &srv, from->addr, rcpts, e->d->nrcpt,
                  e->msg, e->len, send_on_done, e, &e->send);
    e->msg = NULL; /* smtp_send took it */
    if (r < 0) {
        struct task *task = e->task;

        claim_release(e, "could not start the SMTP transfer");
        task_set_state(task, NULL);
        email_free(e);
        task_fail(task, "NexusTransferError", "could not start the SMTP transfer (%s)",
                  r == -EIO ? xfer_easy_why() : strerror(-r));
    }
}

/* ---- claim -------------------------------------------------------------------------- */

static void claim_on_done(const struct db_rows *rows, int err, void *arg)
{
    struct email *e = arg;
    struct task *task = e->task;
    const char *status = db_rows_count(rows) > 0 ? db_rows_get(rows, 0, 0) : NULL;
    double wait_s = status ? strtod(db_rows_get(rows, 0, 2), NULL) : BUSY_DEFER_S;

    if (!task) { /* cancelled meanwhile */
        if (err == 0 && status && strcmp(status, "claimed") == 0)
            claim_release(e, "cancelled (job timeout or shutdown) before sending");
        email_free(e);
        return;
    }
    if (err < 0) {
        query_failed(e, err, rows, "could not claim the delivery: ");
        return;
    }
    if (status && strcmp(status, "claimed") == 0) {
        send_start(e);
        return;
    }
    task_set_state(task, NULL);
    email_free(e);
    if (status && strcmp(status, "reused") == 0) { /* no retry can help */
        task_refuse(task, "NexusJidReused",
                    "jid '%s' was already used by another job (class '%.128s', or other args); "
                    "nothing was sent: give this job a new jid",
                    job_jid(task_job(task)),
                    db_rows_get(rows, 0, 3) ? db_rows_get(rows, 0, 3) : "?");
        return;
    }
    if (status && strcmp(status, "sent") == 0) {
        log_info("event=email_already_sent jid=%s class=%s", log_q(job_jid(task_job(task))),
                 log_q(job_class(task_job(task))));
        task_succeed(task);
        return;
    }
    task_defer(task, wait_s < 1 ? 1 : wait_s,
               "another attempt of this job is sending it (nexus.email_deliveries says %s)",
               status ? status : "being claimed");
}

/* The recipients as a PostgreSQL text[] literal; addresses hold no '"' or '\\'. */
static char *rcpts_literal(const struct email_draft *d)
{
    size_t cap = 3 + d->nrcpt * (MAIL_MAX_ADDR + 3), n = 0;
    char *s = xmalloc(cap);

    s[n++] = '{';
    for (size_t i = 0; i < d->nrcpt; i++)
        n += (size_t)snprintf(s + n, cap - n, "%s\"%s\"", i ? "," : "", d->rcpt[i].addr);
    s[n++] = '}';
    s[n] = '\0';
    return s;
}

static void claim_start(struct email *e, const char *message_id)
{
    const struct cfg *cfg = task_env(e->task)->cfg;
    char lease[32], *rcpts = rcpts_literal(e->d), args_sha256[JOB_SHA256_HEX];
    const char *params[8];
    int r = -ENOMEM; /* when OpenSSL cannot hash the args */

    (void)snprintf(lease, sizeof(lease), "%.3f",
                   cfg->smtp_connect_timeout_s + cfg->smtp_timeout_s + LEASE_MARGIN_S);
    params[0] = e->jid;
    params[1] = e->class_name;
    params[2] = e->d->tmpl;
    params[3] = rcpts;
    params[4] = e->d->subject;
    params[5] = message_id;
    params[6] = lease;
    params[7] = args_sha256;
    e->step = STEP_CLAIM;
    if (job_args_sha256(task_job(e->task), args_sha256) == 0)
        r = db_query(e->db, claim_sql, params, 8, claim_on_done, e);
    free(rcpts);
    if (r < 0)
        query_refused(e, r);
}

/* ---- build -------------------------------------------------------------------------- */

static void build_start(struct email *e)
{
    const struct cfg *cfg = task_env(e->task)->cfg;
    struct email_draft *d = e->d;
    struct mail_addr from, reply_to;
    char id[MAIL_MAX_ID + 1];
    struct task *task = e->task;
    struct err err = {0};
    struct mail_msg m;
    int r;

    if (d->has_from)
        from = d->from;
    else
        (void)mail_addr_parse(cfg->smtp_from, &from, NULL);
    if (!d->has_reply_to && *cfg->smtp_reply_to)
        d->has_reply_to = mail_addr_parse(cfg->smtp_reply_to, &d->reply_to, NULL) == 0;
    reply_to = d->reply_to;
    m = (struct mail_msg){
        .from = &from,
        .reply_to = d->has_reply_to ? &reply_to : NULL,
        .to = d->rcpt,
        .nto = d->nto,
        .cc = d->rcpt + d->nto,
        .ncc = d->ncc,
        .subject = d->subject ? d->subject : "",
        .text = d->text,
        .html = d->html,
        .message_id = mail_msg_id(e->jid, mail_addr_domain(&from), id),
        .date = time(NULL),
    };
    r = mail_msg_build(&m, &e->msg, &e->len, &err);
    if (r < 0) {
        task_set_state(task, NULL);
        email_free(e);
        task_fail(task, "ArgumentError", "%s", err.msg);
        return;
    }
    claim_start(e, id);
}

/* ---- lookup ------------------------------------------------------------------------- */

static void lookup_on_done(const struct db_rows *rows, int err, void *arg)
{
    struct email *e = arg;
    struct task *task = e->task;
    const char *error_class = "ArgumentError";
    struct err why = {0};
    int r;

    if (!task) {
        email_free(e);
        return;
    }
    if (err < 0) {
        query_failed(e, err, rows, "");
        return;
    }
    r = e->fill(rows, e->d, task_env(task)->cfg, &error_class, &why);
    if (r < 0) {
        task_set_state(task, NULL);
        email_free(e);
        task_fail(task, error_class, "%s", why.msg);
        return;
    }
    build_start(e);
}

static struct email *email_new(struct task *task, struct email_draft *d)
{
    const struct task_env *env = task_env(task);
    struct email *e;

    if (!env->db) {
        email_draft_free(d);
        task_fail(task, "NexusNoDatabase",
                  "email classes need database.url (deliveries are recorded in PostgreSQL)");
        return NULL;
    }
    e = xcalloc(1, sizeof(*e));
    e->task = task;
    e->db = env->db;
    e->d = d;
    (void)snprintf(e->jid, sizeof(e->jid), "%s", job_jid(task_job(task)));
    (void)snprintf(e->class_name, sizeof(e->class_name), "%s", job_class(task_job(task)));
    task_set_state(task, e);
    return e;
}

void email_lookup(struct task *task, const json_t *vars, const char *sql, const char *param,
                  email_fill_fn *fill)
{
    struct email_draft *d = email_draft_new();
    struct email *e;
    int r;

    if (vars)
        (void)json_object_update(d->vars, (json_t *)vars);
    e = email_new(task, d);
    if (!e)
        return;
    e->step = STEP_LOOKUP;
    e->fill = fill;
    r = db_query(e->db, sql, &param, 1, lookup_on_done, e);
    if (r < 0)
        query_refused(e, r);
}

void email_deliver(struct task *task, struct email_draft *d)
{
    struct email *e = email_new(task, d);

    if (e)
        build_start(e);
}

void email_cancel(struct task *task)
{
    struct email *e = task_state(task);

    if (!e)
        return;
    task_set_state(task, NULL);
    if (e->step != STEP_SEND) {
        e->task = NULL; /* the query's answer frees it */
        return;
    }
    smtp_abort(e->send);
    claim_release(e, "cancelled (job timeout or shutdown) while sending");
    email_free(e);
}
