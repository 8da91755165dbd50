/* process.c - one nexusd process assembled from its parts (see process.h). */
#include "daemon/process.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "conf/cfg.h"
#include "daemon/metrics.h"
#include "daemon/remote_signal.h"
#include "daemon/worker.h"
#include "jobs/classes.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/raddr.h"
#include "lib/util.h"
#include "lib/xalloc.h"
#include "lib/xfer.h"
#include "queue/durable.h"
#include "queue/poller.h"
#include "queue/presence.h"
#include "queue/queue.h"
#include "queue/rconn.h"
#include "queue/reaper.h"
#include "queue/sched.h"
#include "sql/db.h"
#include "sql/history.h"
#include "sql/outbox.h"
#include "sql/pgurl.h"

struct process {
    struct ev_loop *loop;
    const struct cfg *cfg; /* a reference (cfg_ref()), the one in force */
    struct raddr addr;
    struct rconn *conn; /* the main connection: everything below uses it */
    struct durable *durable; /* WAIT on it after outcomes, fired ticks, relayed rows */
    struct presence *presence;
    struct queue *queue;
    struct metrics *metrics;
    struct xfer *xfer;
    struct db_pool *db;      /* NULL without database.url nor database.pool_url */
    struct db_pool *db_listen; /* the outbox's LISTEN on database.url when the pool goes
                                  through pool_url (size 0: no other connection); or NULL */
    struct history *history; /* NULL without database.url or with database.history off */
    struct outbox *outbox;   /* NULL without database.url or with database.outbox off */
    struct poller *poller;
    struct reaper *reaper;
    struct sched *sched;
    struct worker *wk;
    process_stopped_fn *stopped;
    void *stopped_arg;
};

/* The main connection's longest reconnect wait: a process cut off by a short outage must be
 * back, and beat, well within its process_ttl. */
static double backoff_max(const struct cfg *cfg)
{
    return cfg->process_ttl_s / 4 < 1.0 ? cfg->process_ttl_s / 4 : 1.0;
}

/* How often the reaper reads the processes' records: once per heartbeat, as the records'
 * hashes expire no faster (this host's pids are checked every second in between). */
static double reap_interval(const struct cfg *cfg)
{
    return cfg->heartbeat_s;
}

/* A retry or deferral this process wrote: the poller moves it on its time. */
static void retry_on_written(bool retry, double at, void *arg)
{
    struct process *p = arg;

    poller_expect(p->poller, retry, at);
}

/* The worker beats first (peers judge this process by it), then the periodic tasks catch up
 * on what they could not do while Redis was away. */
static void conn_on_state(struct rconn *rc, bool up, void *arg)
{
    struct process *p = arg;

    if (!p->wk) /* not assembled yet */
        return;
    worker_redis_changed(p->wk, up);
    if (!up)
        return;
    reaper_kick(p->reaper);
    poller_kick(p->poller);
    sched_kick(p->sched);
}

/* This process as the other processes and the dashboard see it. */
static struct presence *presence_make(struct process *p, const char *version, char *host_id,
                                      size_t host_id_size)
{
    struct presence_info info = {0};
    char hostname[256];

    if (gethostname(hostname, sizeof(hostname)) < 0)
        (void)snprintf(hostname, sizeof(hostname), "localhost");
    hostname[sizeof(hostname) - 1] = '\0';
    if (util_host_id(host_id, host_id_size) < 0)
        (void)snprintf(host_id, host_id_size, "%s", hostname);
    info.hostname = hostname;
    info.host_id = host_id;
    info.pid = getpid();
    info.pid_start = util_pid_start(info.pid);
    info.tag = p->cfg->tag;
    info.version = version;
    info.started_at = util_now();
    return presence_new(p->conn, p->cfg->redis_namespace, &info, util_random());
}

/* A pool on `conninfo` as libpq takes it (pgurl_libpq()). */
static struct db_pool *pool_make(struct process *p, struct db_pool_cfg *pc, const char *conninfo,
                                 struct err *err)
{
    char *libpq = pgurl_libpq(conninfo, "nexusd");
    struct db_pool *pool;

    pc->conninfo = libpq;
    pool = db_pool_new(p->loop, pc, NULL, NULL, err); /* the pool logs its own changes */
    free(libpq);
    return pool;
}

/* The outbox's listener: on the pool itself, or when the pool goes through a pooler, on a
 * pool of its own on the direct URL; none without one (the outbox is polled). */
static int listen_setup(struct process *p, const struct pgurl_roles *roles,
                        struct db_pool_cfg pc, struct err *err)
{
    const struct cfg *cfg = p->cfg;
    char why[512];

    if (!roles->pooled)
        return 0;
    if (!roles->session) {
        log_warn("event=outbox_polled interval=%gs why=%s", cfg->database_outbox_interval_s,
                 log_q(pgurl_no_session(cfg->database_url, cfg->database_pool_url,
                                        "the outbox's LISTEN needs", why, sizeof(why))));
        return 0;
    }
    pc.size = 0;
    pc.pooled = false;
    pc.prepared = false;
    p->db_listen = pool_make(p, &pc, roles->session, err);
    return p->db_listen ? 0 : err->code;
}

/* The PostgreSQL pool handlers write through, and the history and outbox on top of it. */
static int db_setup(struct process *p, struct err *err)
{
    const struct cfg *cfg = p->cfg;
    struct pgurl_roles roles;
    struct db_pool_cfg pc = {
        .size = cfg->database_pool_size,
        .max_waiting = cfg->database_max_waiting,
        .group_max = cfg->database_group_commit,
        .connect_timeout_s = cfg->database_connect_timeout_s,
        .statement_timeout_s = cfg->database_statement_timeout_s,
    };

    pgurl_roles(cfg->database_url, cfg->database_pool_url, &roles);
    pc.pooled = roles.pooled;
    pc.prepared = cfg->database_prepared && !roles.pooled;
    p->db = pool_make(p, &pc, roles.pool, err);
    if (!p->db)
        return err->code;
    if (cfg->database_outbox && listen_setup(p, &roles, pc, err) < 0)
        return err->code;
    if (cfg->database_outbox)
        p->outbox = outbox_new(p->loop, p->db, roles.pooled ? p->db_listen : p->db, p->conn,
                               cfg->redis_namespace, cfg->database_outbox_interval_s);
    if (p->outbox)
        outbox_set_durable(p->outbox, p->durable);
    if (cfg->database_history)
        p->history = history_new(p->loop, p->db, presence_identity(p->presence), 0.2,
                                 cfg->database_history_retention_s, 100000);
    return 0;
}

/* The classes this process runs, published with its record (nexusctl enqueue warns of a job
 * whose class no live process knows). */
static void classes_publish(struct process *p, const struct cfg *cfg)
{
    struct classes *cl = classes_new(cfg);
    json_t *names = classes_names(cl);

    presence_set_classes(p->presence, names);
    json_decref(names);
    classes_free(cl);
}

/* Settings of the parts that a reload may change. */
static void parts_configure(struct process *p, const struct cfg *cfg)
{
    classes_publish(p, cfg);
    rconn_set_backoff_max(p->conn, backoff_max(cfg));
    durable_set(p->durable, cfg->redis_wait_replicas, cfg->redis_wait_timeout_s);
    queue_set_dead_limits(p->queue, cfg->dead_max_jobs, cfg->dead_max_age_s);
    queue_set_max_job(p->queue, cfg->max_job_size);
    poller_set_interval(p->poller, cfg->poll_interval_s);
    poller_set_max_job(p->poller, cfg->max_job_size);
    reaper_set_max_job(p->reaper, cfg->max_job_size);
    reaper_set_limits(p->reaper, reap_interval(cfg), cfg->max_recoveries, cfg->orphan_sweep_s);
    if (p->history)
        history_set_retention(p->history, cfg->database_history_retention_s);
    if (p->outbox)
        outbox_set_interval(p->outbox, cfg->database_outbox_interval_s);
}

struct process *process_new(struct ev_loop *loop, const struct cfg *cfg, const char *version,
                            struct err *err)
{
    struct process *p = xcalloc(1, sizeof(*p));
    struct worker_parts parts;
    char host_id[256];

    p->loop = loop;
    p->cfg = cfg_ref(cfg);
    if (cfg_redis_addr(cfg, &p->addr, err) < 0)
        goto fail;
    p->metrics = metrics_new();
    p->conn = rconn_new(loop, &p->addr, "main", cfg->redis_connect_timeout_s, conn_on_state, p);
    p->durable = durable_new(loop, p->conn, cfg->redis_wait_replicas, cfg->redis_wait_timeout_s);
    p->xfer = xfer_new(loop);
    /* the identity first: in-flight lists are named after it */
    p->presence = presence_make(p, version, host_id, sizeof(host_id));
    presence_on_signal(p->presence, remote_signal_take, NULL); /* nexusctl quiet/stop */
    p->queue = queue_new(p->conn, cfg->redis_namespace, presence_identity(p->presence));
    queue_set_durable(p->queue, p->durable);
    if ((cfg->database_url || cfg->database_pool_url) && db_setup(p, err) < 0)
        goto fail;
    p->poller = poller_new(loop, p->conn, cfg->redis_namespace, cfg->poll_interval_s);
    queue_on_scheduled(p->queue, retry_on_written, p);
    p->reaper = reaper_new(loop, p->conn, cfg->redis_namespace, presence_identity(p->presence),
                           host_id, reap_interval(cfg), cfg->max_recoveries, cfg->orphan_sweep_s);
    p->sched = sched_new(loop, p->conn, cfg);
    sched_set_durable(p->sched, p->durable);
    parts_configure(p, cfg);
    parts = (struct worker_parts){
        .addr = &p->addr,
        .conn = p->conn,
        .presence = p->presence,
        .queue = p->queue,
        .metrics = p->metrics,
        .xfer = p->xfer,
        .db = p->db,
        .history = p->history,
    };
    p->wk = worker_new(loop, cfg, &parts);
    return p;
fail:
    process_free(p);
    return NULL;
}

void process_free(struct process *p)
{
    if (!p)
        return;
    /* connections first, the worker's then the main one: their pending callbacks still find
     * every part alive */
    worker_close(p->wk);
    durable_free(p->durable); /* its callers are alive: they hear -ECANCELED */
    rconn_free(p->conn);
    worker_free(p->wk);   /* cancels the runs */
    xfer_free(p->xfer);   /* after the runs: a cancelled handler aborts its transfers */
    db_pool_free(p->db);  /* answers what is under way with -ECANCELED: users still alive */
    db_pool_free(p->db_listen);
    history_free(p->history);
    outbox_free(p->outbox);
    poller_free(p->poller);
    reaper_free(p->reaper);
    sched_free(p->sched);
    queue_free(p->queue);
    presence_free(p->presence);
    metrics_free(p->metrics);
    raddr_clear(&p->addr);
    cfg_free(p->cfg);
    free(p);
}

void process_reload(struct process *p, const struct cfg *cfg)
{
    sched_reload(p->sched, cfg);
    cfg_ref(cfg); /* before the old one goes: they may be the same */
    cfg_free(p->cfg);
    p->cfg = cfg;
    parts_configure(p, cfg);
    worker_reload(p->wk, cfg);
}

static void process_on_stopped(struct worker *wk, void *arg)
{
    struct process *p = arg;

    p->stopped(p, p->stopped_arg);
}

void process_stop(struct process *p, process_stopped_fn *done, void *arg)
{
    if (p->stopped)
        return;
    p->stopped = done;
    p->stopped_arg = arg;
    poller_stop(p->poller);
    reaper_stop(p->reaper);
    sched_stop(p->sched);
    if (p->outbox)
        outbox_stop(p->outbox);
    worker_stop(p->wk, process_on_stopped, p);
}

struct worker *process_worker(const struct process *p)
{
    return p->wk;
}

struct db_pool *process_pool(const struct process *p)
{
    return p->db;
}
