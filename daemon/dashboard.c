/* dashboard.c - the operators' dashboard: page, read endpoints, token-guarded actions. */
#include "daemon/dashboard.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <jansson.h>

#include "conf/cfg.h"
#include "daemon/actions.h"
#include "daemon/auth.h"
#include "daemon/history_api.h"
#include "daemon/httpd.h"
#include "lib/err.h"
#include "lib/job.h"
#include "lib/log.h"
#include "lib/parse.h"
#include "lib/raddr.h"
#include "lib/xalloc.h"
#include "queue/durable.h"
#include "queue/excerpt.h"
#include "queue/rconn.h"

/* What the page may load and talk to: itself only, no inline script or style. */
#define DASHBOARD_CSP                                                                              \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "                   \
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
#define LIST_DEFAULT_LIMIT 50
#define LIST_MAX_ASKED 1000          /* a larger limit is refused; served as ACTIONS_LIST_MAX */
#define LIST_MEMBER_MAX (64u << 10)  /* bytes of a job read whole (else its first bytes) */
#define LIST_READ_MAX (256u << 20)   /* bytes of jobs Redis reads for one page */
#define LIST_ANSWER_MAX (1u << 20)   /* bytes of one answer's jobs */
/* List reads run one at a time, each followed by a pause so that they take at most this
 * share of the time (their Redis and loop time is what the jobs would have had). */
#define LIST_SHARE 0.05
#define LIST_PAUSE_MAX_S 2.0
#define LIST_WAITING_MAX 32          /* list requests waiting their turn; more get 503 */

/* A list request waiting for its turn, or for the read under way that it rides on. */
struct wait {
    struct httpd_req *req; /* answered exactly once */
    enum actions_set set;
    unsigned offset, limit;
    bool token;            /* sent the right token: longer excerpts */
    struct wait *next;
};

struct dashboard {
    struct ev_loop *loop;   /* borrowed */
    struct rconn *conn;     /* owned: reads and actions, apart from the jobs' connections */
    struct durable *durable; /* owned: an action answers 2xx after WAIT (redis.wait_replicas) */
    const struct cfg *cfg;  /* borrowed: token, schedules */
    char *ns;               /* owned: fixed for the process's life */
    struct actions_heads *heads; /* owned: large jobs' first bytes, not to read again */
    struct history_api *history; /* owned: /api/metrics, reading through `conn` */
    struct wait *reading;   /* the list read under way, or NULL; ->next: the requests waiting
                             * when it started that asked the same, answered with it */
    struct wait *waiting;   /* owned, in arrival order */
    size_t nwaiting;
    double read_started;    /* ev_time() when `reading` was sent */
    ev_timer pause;         /* after a read: the next waits for it */
    bool closing;
};

/* An action from its check to its answer; owns copies of what its log line names. */
struct call {
    struct httpd_req *req; /* answered exactly once */
    const char *action;    /* static: "dead_retry", ... */
    char *target;          /* owned */
    char *peer;            /* owned */
    struct durable *durable; /* borrowed: the dashboard's */
    json_t *result;          /* owned while its WAIT is out */
};

static void action_log(const char *peer, const char *action, const char *target, unsigned status,
                       const char *result)
{
    if (status < 400)
        log_info("event=dashboard_action peer=%s action=%s target=%s status=%u result=%s",
                 log_q(peer), action, log_q(target), status, log_q(result));
    else
        log_warn("event=dashboard_action peer=%s action=%s target=%s status=%u result=%s",
                 log_q(peer), action, log_q(target), status, log_q(result));
}

/* --- answers ---------------------------------------------------------------------------- */

static unsigned status_of(int err)
{
    switch (err) {
    case 0:
        return 200;
    case -ENOENT:
        return 404;
    case -EBADMSG:
    case -EFBIG:
        return 409;
    default:
        return 503; /* Redis down, refused, or lost */
    }
}

static void call_answer(struct call *c, int err, json_t *result, const char *why)
{
    unsigned status = status_of(err);

    action_log(c->peer, c->action, c->target, status, err < 0 ? why : "done");
    if (err < 0)
        httpd_respond_error(c->req, status, why);
    else
        httpd_respond_json(c->req, status, result);
    free(c->target);
    free(c->peer);
    free(c);
}

/* The action's WAIT answered: the answer says how many replicas have its writes. */
static void call_on_durable(int acked, unsigned want, void *arg)
{
    struct call *c = arg;
    json_t *result = c->result;

    if (want > 0) {
        (void)json_object_set_new(result, "replicas",
                                  json_pack("{s:o, s:I}", "acked",
                                            acked >= 0 ? json_integer(acked) : json_null(),
                                            "want", (json_int_t)want));
        if (durable_short(acked, want))
            (void)json_object_set_new(
                result, "warning",
                json_string(acked >= 0 ? "done, but fewer replicas than redis.wait_replicas "
                                         "confirmed it: a failover now could undo it"
                                       : "done, but no replica count came back (WAIT): a "
                                         "failover now could undo it"));
    }
    c->result = NULL;
    call_answer(c, 0, result, NULL);
}

static void call_on_done(int err, json_t *result, const char *why, void *arg)
{
    struct call *c = arg;

    if (err < 0) {
        call_answer(c, err, result, why);
        return;
    }
    c->result = result;
    durable_after(c->durable, "dashboard", call_on_durable, c);
}

/* A read's answer: no log line, reads are not actions. */
static void read_on_done(int err, json_t *result, const char *why, void *arg)
{
    struct httpd_req *req = arg;

    if (err < 0)
        httpd_respond_error(req, status_of(err), why);
    else
        httpd_respond_json(req, 200, result);
}

/* An action refused before it started: logged and answered. */
static void refuse(struct httpd_req *req, const char *action, const char *target, unsigned status,
                   const char *why)
{
    action_log(httpd_req_peer(req), action, target, status, why);
    httpd_respond_error(req, status, why);
}

/* --- the page --------------------------------------------------------------------------- */

static const char *const page_headers[] = {
    "Content-Security-Policy", DASHBOARD_CSP, "X-Frame-Options", "DENY",
    "Referrer-Policy", "no-referrer", NULL,
};

static const struct dashboard_asset *asset_find(const char *name)
{
    for (size_t i = 0; i < dashboard_nassets; i++)
        if (strcmp(dashboard_assets[i].name, name) == 0)
            return &dashboard_assets[i];
    return NULL;
}

static void asset_send(struct httpd_req *req, const char *name)
{
    const struct dashboard_asset *a = asset_find(name);

    if (!a) {
        httpd_respond_error(req, 404, "no such file");
        return;
    }
    httpd_req_set_headers(req, page_headers);
    httpd_respond(req, 200, a->type, a->body, a->len);
}

/* GET /: the page; any other path no route took is not found. */
static void on_index(struct httpd_req *req, void *arg)
{
    if (strcmp(httpd_req_path(req), "/favicon.ico") == 0) {
        httpd_respond(req, 204, "text/plain", "", 0); /* no icon: nothing to fetch again */
        return;
    }
    if (strcmp(httpd_req_path(req), "/") != 0 && strcmp(httpd_req_path(req), "/index.html") != 0) {
        httpd_respond_error(req, 404, "not found");
        return;
    }
    asset_send(req, "index.html");
}

/* GET /dashboard/NAME: the page's script and style. */
static void on_asset(struct httpd_req *req, void *arg)
{
    const char *name = httpd_req_path(req) + strlen("/dashboard/");

    if (strcmp(name, "index.html") == 0) {
        httpd_respond_error(req, 404, "no such file");
        return;
    }
    asset_send(req, name);
}

/* --- reads ------------------------------------------------------------------------------ */

static void on_auth(struct httpd_req *req, void *arg)
{
    const struct dashboard *d = arg;
    enum auth_result r = auth_check(d->cfg->http_token, httpd_req_header(req, "Authorization"));
    static const char *const words[] = {"ok", "none", "missing", "wrong"};

    httpd_respond_json(
        req, 200, json_pack("{s:b, s:s}", "read_only", r == AUTH_READ_ONLY, "token", words[r]));
}

static void on_metrics(struct httpd_req *req, void *arg)
{
    const struct dashboard *d = arg;

    history_api_serve(d->history, req);
}

static void on_paused(struct httpd_req *req, void *arg)
{
    const struct dashboard *d = arg;

    if (actions_paused(d->conn, d->ns, read_on_done, req) < 0)
        httpd_respond_error(req, 503, "Redis is not connected");
}

/* A query number: absent = `def`; otherwise min..max, or -1. */
static long long query_number(struct httpd_req *req, const char *name, unsigned def, unsigned min,
                              unsigned max)
{
    const char *s = httpd_req_query(req, name);
    uint32_t v;

    if (!s)
        return def;
    return parse_u32(s, min, max, &v) < 0 ? -1 : (long long)v;
}

static bool wait_same(const struct wait *a, const struct wait *b)
{
    return a->set == b->set && a->offset == b->offset && a->limit == b->limit &&
           a->token == b->token;
}

/* Answers `w` (taking a reference to `result` when there is one) and frees it. */
static void wait_answer(struct wait *w, int err, json_t *result, const char *why)
{
    if (err < 0)
        httpd_respond_error(w->req, status_of(err), why);
    else
        httpd_respond_json(w->req, 200, json_incref(result));
    free(w);
}

static void list_next(struct dashboard *d);

/* The read under way ended: its requests get its answer; the next read waits for the pause its
 * cost earns. */
static void list_on_done(int err, json_t *result, const char *why, void *arg)
{
    struct dashboard *d = arg;
    struct wait *w = d->reading, *next;
    double pause;

    d->reading = NULL;
    for (; w; w = next) {
        next = w->next;
        wait_answer(w, err, result, why);
    }
    json_decref(result);
    if (d->closing)
        return;
    /* the read's cost: Redis, decoding and the answers' encoding */
    pause = (ev_time() - d->read_started) * (1 - LIST_SHARE) / LIST_SHARE;
    ev_timer_set(&d->pause, pause < LIST_PAUSE_MAX_S ? pause : LIST_PAUSE_MAX_S, 0);
    ev_timer_start(d->loop, &d->pause);
}

static void pause_on_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
    list_next(t->data);
}

/* Starts the first waiting read unless one is under way or the pause is not over. */
static void list_next(struct dashboard *d)
{
    struct actions_list_bounds b = {
        .member_max = LIST_MEMBER_MAX, .read_max = LIST_READ_MAX,
        .answer_max = LIST_ANSWER_MAX,
    };
    struct wait *w, **p, *x;

    while (!d->reading && !ev_is_active(&d->pause) && (w = d->waiting)) {
        d->waiting = w->next;
        d->nwaiting--;
        w->next = NULL;
        for (p = &d->waiting; (x = *p);) { /* those asking the same ride on this read */
            if (!wait_same(x, w)) {
                p = &x->next;
                continue;
            }
            *p = x->next;
            d->nwaiting--;
            x->next = w->next;
            w->next = x;
        }
        b.excerpt_max = w->token ? EXCERPT_TOKEN : EXCERPT_PUBLIC;
        d->reading = w;
        d->read_started = ev_time();
        if (actions_list(d->conn, d->ns, w->set, w->offset, w->limit, &b, d->heads,
                         list_on_done, d) < 0) {
            d->reading = NULL;
            for (; w; w = x) {
                x = w->next;
                wait_answer(w, -EIO, NULL, "Redis is not connected");
            }
        }
    }
}

static void list_set(struct httpd_req *req, struct dashboard *d, enum actions_set set)
{
    static const char *const busy_headers[] = {"Retry-After", "1", NULL};
    long long offset = query_number(req, "offset", 0, 0, 100000000);
    long long limit = query_number(req, "limit", LIST_DEFAULT_LIMIT, 1, LIST_MAX_ASKED);
    struct wait *w, **tail;
    char why[96];

    if (offset < 0 || limit < 0) {
        (void)snprintf(why, sizeof(why), "offset must be 0..100000000 and limit 1..%d",
                       LIST_MAX_ASKED);
        httpd_respond_error(req, 400, why);
        return;
    }
    if (d->nwaiting >= LIST_WAITING_MAX) {
        httpd_req_set_headers(req, busy_headers);
        httpd_respond_error(req, 503, "too many list requests waiting; try again");
        return;
    }
    w = xcalloc(1, sizeof(*w));
    w->req = req;
    w->set = set;
    w->offset = (unsigned)offset;
    w->limit = limit > ACTIONS_LIST_MAX ? ACTIONS_LIST_MAX : (unsigned)limit;
    w->token = auth_check(d->cfg->http_token, httpd_req_header(req, "Authorization")) == AUTH_OK;
    for (tail = &d->waiting; *tail;)
        tail = &(*tail)->next;
    *tail = w;
    d->nwaiting++;
    list_next(d);
}

static void on_dead_list(struct httpd_req *req, void *arg)
{
    list_set(req, arg, ACTIONS_DEAD);
}

static void on_retry_list(struct httpd_req *req, void *arg)
{
    list_set(req, arg, ACTIONS_RETRY);
}

static void on_scheduled_list(struct httpd_req *req, void *arg)
{
    list_set(req, arg, ACTIONS_SCHEDULE);
}

/* --- actions ---------------------------------------------------------------------------- */

/* The part of the path between `prefix` and `suffix` (suffix "" = to the end), copied;
 * NULL when the path has another shape or the part is empty. */
static char *path_part(const char *path, const char *prefix, const char *suffix)
{
    size_t plen = strlen(prefix), slen = strlen(suffix), len = strlen(path);

    if (len <= plen + slen || strncmp(path, prefix, plen) != 0 ||
        strcmp(path + len - slen, suffix) != 0)
        return NULL;
    return xstrndup(path + plen, len - plen - slen);
}

static bool jid_valid(const char *jid)
{
    size_t len = strlen(jid);

    if (len == 0 || len > JOB_MAX_JID)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)jid[i] <= 0x20 || (unsigned char)jid[i] >= 0x7f)
            return false;
    return true;
}

/* Checks the token; on success returns a call for `action` on `target` (taken). On
 * refusal answers (403 read-only, 401 token), logs, and returns NULL. */
static struct call *call_begin(struct httpd_req *req, const struct dashboard *d,
                               const char *action, char *target)
{
    enum auth_result a = auth_check(d->cfg->http_token, httpd_req_header(req, "Authorization"));
    struct call *c;

    if (a == AUTH_READ_ONLY) {
        refuse(req, action, target, 403, "read-only: no token is configured (http.token_file)");
        free(target);
        return NULL;
    }
    if (a != AUTH_OK) {
        refuse(req, action, target, 401,
               a == AUTH_MISSING ? "an Authorization: Bearer token is needed"
                                 : "the bearer token is wrong");
        free(target);
        return NULL;
    }
    c = xcalloc(1, sizeof(*c));
    c->peer = xstrdup(httpd_req_peer(req));
    c->req = req;
    c->action = action;
    c->target = target;
    c->durable = d->durable;
    return c;
}

/* After an actions_*() start: -ENOTCONN answers now. */
static void call_started(struct call *c, int r)
{
    if (r < 0)
        call_on_done(-EIO, NULL, "Redis is not connected", c);
}

/* One route per set and verb: /api/SET/JID[/VERB]. */
struct job_route {
    const char *method;
    const char *prefix;  /* "/api/dead/" */
    const char *suffix;  /* "/retry", or "" for DELETE */
    enum actions_set set;
    bool run;            /* run (move to its queue), else delete */
    const char *action;  /* for the log */
};

static const struct job_route job_routes[] = {
    {"POST", "/api/dead/", "/retry", ACTIONS_DEAD, true, "dead_retry"},
    {"DELETE", "/api/dead/", "", ACTIONS_DEAD, false, "dead_delete"},
    {"POST", "/api/retry/", "/run", ACTIONS_RETRY, true, "retry_run"},
    {"DELETE", "/api/retry/", "", ACTIONS_RETRY, false, "retry_delete"},
    {"POST", "/api/scheduled/", "/run", ACTIONS_SCHEDULE, true, "scheduled_run"},
    {"DELETE", "/api/scheduled/", "", ACTIONS_SCHEDULE, false, "scheduled_delete"},
};

static void on_job_action(struct httpd_req *req, void *arg)
{
    const struct dashboard *d = arg;
    const char *path = httpd_req_path(req);
    const struct job_route *rt = NULL;
    char *jid = NULL;
    struct call *c;

    for (size_t i = 0; i < sizeof(job_routes) / sizeof(job_routes[0]) && !rt; i++) {
        const struct job_route *x = &job_routes[i];
        if (strcmp(x->method, httpd_req_method(req)) != 0 ||
            strncmp(path, x->prefix, strlen(x->prefix)) != 0)
            continue;
        jid = path_part(path, x->prefix, x->suffix);
        if (jid && (x->suffix[0] || !strchr(jid, '/')))
            rt = x;
        else {
            free(jid);
            jid = NULL;
        }
    }
    if (!rt) {
        httpd_respond_error(req, 404, "not found");
        return;
    }
    if (!jid_valid(jid)) {
        refuse(req, rt->action, jid, 400, "the jid must be 1..64 printable ASCII characters");
        free(jid);
        return;
    }
    c = call_begin(req, d, rt->action, jid);
    if (!c)
        return;
    call_started(c, rt->run ? actions_run(d->conn, d->ns, rt->set, c->target, call_on_done, c)
                            : actions_delete(d->conn, d->ns, rt->set, c->target, call_on_done, c));
}

/* POST /api/queues/NAME/pause and /api/queues/NAME/resume. */
static void on_queue_action(struct httpd_req *req, void *arg)
{
    const struct dashboard *d = arg;
    const char *path = httpd_req_path(req);
    char *queue = path_part(path, "/api/queues/", "/pause");
    bool pause = queue != NULL;
    struct err why = {0};
    struct call *c;

    if (!queue)
        queue = path_part(path, "/api/queues/", "/resume");
    if (!queue) {
        httpd_respond_error(req, 404, "not found");
        return;
    }
    if (job_check_queue("the queue", queue, strlen(queue), &why) < 0) {
        refuse(req, pause ? "queue_pause" : "queue_resume", queue, 400, why.msg);
        free(queue);
        return;
    }
    c = call_begin(req, d, pause ? "queue_pause" : "queue_resume", queue);
    if (c)
        call_started(c, actions_pause(d->conn, d->ns, c->target, pause, call_on_done, c));
}

/* POST /api/schedules/NAME/run: what `nexusctl cron run NAME` does. */
static void on_schedule_run(struct httpd_req *req, void *arg)
{
    const struct dashboard *d = arg;
    char *name = path_part(httpd_req_path(req), "/api/schedules/", "/run");
    const struct cfg_schedule *sc;
    struct call *c;

    if (!name) {
        httpd_respond_error(req, 404, "not found");
        return;
    }
    c = call_begin(req, d, "schedule_run", name);
    if (!c)
        return;
    sc = cfg_schedule_find(d->cfg, c->target);
    if (!sc)
        call_on_done(-ENOENT, NULL, "no schedule of that name in the configuration", c);
    else
        call_started(c, actions_schedule_run(d->conn, d->ns, sc, call_on_done, c));
}

/* --- the module ------------------------------------------------------------------------- */

struct dashboard *dashboard_new(struct ev_loop *loop, struct httpd *h, const struct cfg *cfg,
                                struct err *err)
{
    struct dashboard *d;
    struct raddr addr = {0};
    static const struct {
        const char *method, *path;
        httpd_handler_fn *fn;
    } routes[] = {
        {"GET", "/api/auth", on_auth},
        {"GET", "/api/paused", on_paused},
        {"GET", "/api/metrics", on_metrics},
        {"GET", "/api/dead", on_dead_list},
        {"GET", "/api/retry", on_retry_list},
        {"GET", "/api/scheduled", on_scheduled_list},
        {"POST", "/api/dead/", on_job_action},
        {"DELETE", "/api/dead/", on_job_action},
        {"POST", "/api/retry/", on_job_action},
        {"DELETE", "/api/retry/", on_job_action},
        {"POST", "/api/scheduled/", on_job_action},
        {"DELETE", "/api/scheduled/", on_job_action},
        {"POST", "/api/queues/", on_queue_action},
        {"POST", "/api/schedules/", on_schedule_run},
        {"GET", "/dashboard/", on_asset},
        {"GET", "/", on_index}, /* last: a prefix of every path */
    };

    if (cfg_redis_addr(cfg, &addr, err) < 0)
        return NULL;
    d = xcalloc(1, sizeof(*d));
    d->loop = loop;
    d->cfg = cfg;
    ev_timer_init(&d->pause, pause_on_timeout, 0, 0);
    d->pause.data = d;
    d->ns = xstrdup(cfg->redis_namespace);
    d->heads = actions_heads_new();
    d->conn = rconn_new(loop, &addr, "dashboard", cfg->redis_connect_timeout_s, NULL, NULL);
    d->durable = durable_new(loop, d->conn, cfg->redis_wait_replicas, cfg->redis_wait_timeout_s);
    d->history = history_api_new(loop, d->conn, d->ns);
    raddr_clear(&addr);
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        httpd_route(h, routes[i].method, routes[i].path, routes[i].fn, d);
    return d;
}

void dashboard_reload(struct dashboard *d, const struct cfg *cfg)
{
    d->cfg = cfg;
    durable_set(d->durable, cfg->redis_wait_replicas, cfg->redis_wait_timeout_s);
}

void dashboard_set_pool(struct dashboard *d, struct db_pool *pool)
{
    history_api_set_pool(d->history, pool);
}

void dashboard_free(struct dashboard *d)
{
    struct wait *w;

    if (!d)
        return;
    d->closing = true;
    ev_timer_stop(d->loop, &d->pause);
    durable_free(d->durable); /* actions waiting for their WAIT answer now */
    rconn_free(d->conn); /* the read under way answers 503 */
    history_api_free(d->history);
    while ((w = d->waiting)) {
        d->waiting = w->next;
        wait_answer(w, -EIO, NULL, "nexusd is stopping");
    }
    actions_heads_free(d->heads);
    free(d->ns);
    free(d);
}
