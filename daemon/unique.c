/* unique.c - unique jobs as they start (unique.lua): a job pushed plainly takes its lock here,
 * a duplicate (another jid holds the lock) is not run, and with its class's unique_until =
 * "start" the lock is let go. Only jobs carrying "unique_for" come here: one EVAL each. */
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "conf/cfg.h"
#include "daemon/worker_int.h"
#include "lib/job.h"
#include "lib/log.h"
#include "lib/util.h"
#include "queue/lua.h"
#include "queue/rconn.h"

#define UNIQUE_UNKNOWN "unique lock unknown: Redis unreachable"

static void unique_on_reply(struct redisReply *reply, void *arg)
{
    struct run *run = arg;
    struct worker *wk = run->wk;
    const char *error = rconn_reply_error(reply);

    wk->nchecking--;
    if (wk->phase != STOP_NONE) { /* its job stays in flight: the stop puts it back */
        run_free(run);
    } else if (error || reply->type != REDIS_REPLY_STRING) {
        record_defer(wk, run, util_now(), 1.0, UNIQUE_UNKNOWN); /* no attempt spent */
        run_free(run);
        fetch_more(wk);
    } else if (reply->len > 0) {
        record_duplicate(wk, run, reply->str);
        run_free(run);
        fetch_more(wk);
    } else {
        const struct cfg_class *cls = cfg_class_find(wk->cfg, job_class(run->job));
        if (cls && cls->unique_until == CFG_UNIQUE_UNTIL_START)
            unique_lock_clear(&run->lock); /* let go by unique.lua: nothing left to hold */
        limits_admit(wk, run);
    }
    if (wk->reconciling) /* it waited for this answer: the job is now in a list or started */
        fetch_reconcile(wk);
}

void unique_ask(struct worker *wk, struct run *run)
{
    const struct cfg_class *cls = cfg_class_find(wk->cfg, job_class(run->job));
    const char *until = cls && cls->unique_until == CFG_UNIQUE_UNTIL_START ? "start" : "success";
    int r;

    if (unique_lock_make(&run->lock, wk->cfg->redis_namespace, run->job, 0) < 0) {
        log_warn("event=unique_unchecked jid=%s class=%s err=\"OpenSSL could not hash its "
                 "lock; run without it\"",
                 log_q(job_jid(run->job)), log_q(job_class(run->job)));
        limits_admit(wk, run);
        return;
    }
    r = rconn_eval(wk->conn, unique_on_reply, run, lua_unique, 1, (const char *[]){run->lock.key},
                   3, (const char *[]){run->lock.jid, run->lock.ttl_ms, until}, NULL);
    if (r == 0) {
        wk->nchecking++;
        return;
    }
    record_defer(wk, run, util_now(), 1.0, UNIQUE_UNKNOWN);
    run_free(run);
}
