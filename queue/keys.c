/* keys.c - Redis key names. */
#include "queue/keys.h"

#include <stdarg.h>
#include <stdlib.h>
#include <time.h>

#include "lib/xalloc.h"

/* "<ns><formatted>", e.g. make("app:", "queue:%s", "default") = "app:queue:default". */
static char *make(const char *ns, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static char *make(const char *ns, const char *fmt, ...)
{
    char *tail, *key;
    va_list ap;

    va_start(ap, fmt);
    tail = xvasprintf(fmt, ap);
    va_end(ap);
    key = xasprintf("%s%s", ns ? ns : "", tail);
    free(tail);
    return key;
}

char *keys_queues(const char *ns)
{
    return make(ns, "queues");
}

char *keys_queue(const char *ns, const char *name)
{
    return make(ns, "queue:%s", name);
}

char *keys_schedule(const char *ns)
{
    return make(ns, "schedule");
}

char *keys_retry(const char *ns)
{
    return make(ns, "retry");
}

char *keys_dead(const char *ns)
{
    return make(ns, "dead");
}

char *keys_stat_processed(const char *ns)
{
    return make(ns, "stat:processed");
}

char *keys_stat_failed(const char *ns)
{
    return make(ns, "stat:failed");
}

char *keys_stat_processed_day(const char *ns, const char *day)
{
    return make(ns, "stat:processed:%s", day);
}

char *keys_stat_failed_day(const char *ns, const char *day)
{
    return make(ns, "stat:failed:%s", day);
}

char *keys_processes(const char *ns)
{
    return make(ns, "processes");
}

char *keys_process(const char *ns, const char *identity)
{
    return make(ns, "%s", identity);
}

char *keys_process_work(const char *ns, const char *identity)
{
    return make(ns, "%s:work", identity);
}

char *keys_process_signals(const char *ns, const char *identity)
{
    return make(ns, "%s-signals", identity);
}

char *keys_inflight(const char *ns, const char *identity, const char *queue)
{
    return make(ns, "nexus:inflight:%s:%s", identity, queue);
}

char *keys_inflight_prefix(const char *ns)
{
    return make(ns, "nexus:inflight:");
}

char *keys_order(const char *ns, const char *identity)
{
    return make(ns, "nexus:order:%s", identity);
}

char *keys_procs(const char *ns)
{
    return make(ns, "nexus:procs");
}

char *keys_unique(const char *ns, const char *digest)
{
    return make(ns, "unique:%s", digest);
}

char *keys_cron(const char *ns, const char *name)
{
    return make(ns, "nexus:cron:%s", name);
}

char *keys_rate(const char *ns, const char *job_class)
{
    return make(ns, "nexus:rate:%s", job_class);
}

char *keys_conc(const char *ns, const char *job_class)
{
    return make(ns, "nexus:conc:%s", job_class);
}

char *keys_paused(const char *ns)
{
    return make(ns, "nexus:paused");
}

char *keys_outbox_relayed(const char *ns)
{
    return make(ns, "nexus:outbox:relayed");
}

char *keys_metrics(const char *ns, unsigned width_s, long long slot)
{
    return make(ns, "nexus:metrics:%u:%lld", width_s, slot);
}

char *keys_emotion_cache(const char *prefix, const char *sha256_hex)
{
    return make(prefix, "%s", sha256_hex);
}

char *keys_funnel_step(const char *prefix, const char *id, int step, const char *day)
{
    return make(prefix, "%s:step:%d:%s", id, step, day);
}

char *keys_day(double epoch_s, char *buf)
{
    time_t t = (time_t)epoch_s;
    struct tm tm;

    (void)gmtime_r(&t, &tm);
    (void)strftime(buf, 11, "%Y-%m-%d", &tm);
    return buf;
}
