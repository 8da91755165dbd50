/* rconn.c - one Redis connection of nexusd's own on libev (TCP, unix socket or TLS through
 * OpenSSL), reconnecting by itself; hiredis only formats commands and reads replies. */
#include "queue/rconn.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <ev.h>
#include <hiredis/hiredis.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "lib/digest.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/decimal.h"
#include "lib/raddr.h"
#include "lib/resolve.h"
#include "lib/xalloc.h"
#include "queue/resp.h"
#include "queue/rtls.h"
#include "queue/sentinel.h"

#define BACKOFF_MIN_S 0.1
#define BACKOFF_MAX_S 1.0
#define READ_TIMEOUT_S 30.0          /* when the address carries none */
#define READ_CHUNK 65536             /* bytes asked of one read */
#define READS_PER_EVENT 16           /* then the loop serves the others before reading on */
#define OUT_KEEP (1024 * 1024)       /* an empty output buffer larger than this is released */
#define KEEPALIVE_IDLE_S 60          /* TCP keepalive: first probe after this much silence, */
#define KEEPALIVE_INTERVAL_S 10      /* then one probe every this many seconds, */
#define KEEPALIVE_PROBES 3           /* this many unanswered: the connection is dead */
#define REPLY_MAX_ELEMENTS (1 << 22) /* of one array, map or set reply: see capped_array() */
#define SCRIPTS_MAX 64               /* distinct scripts rconn_eval() remembers the SHA-1 of */

enum phase {
    PHASE_DOWN,      /* no socket: waiting for the next attempt */
    PHASE_LOCATE,    /* asking the sentinels where the master is */
    PHASE_RESOLVE,   /* the host's name being looked up (lib/resolve.h) */
    PHASE_CONNECT,   /* non-blocking connect() under way */
    PHASE_HANDSHAKE, /* SSL_connect() under way */
    PHASE_SETUP,     /* AUTH / SELECT (or, on TLS, PING) sent, replies awaited */
    PHASE_UP,        /* commands may be sent */
};

/* A command sent, its reply awaited; replies come in the order of the list. */
struct pending {
    struct pending *next;
    rconn_reply_fn *done;
    void *arg;
    double wait_s;     /* longest silence before its reply: the read timeout (+ block time) */
    const char *setup; /* the command's name when rconn sent it itself, else NULL */
    unsigned long long end; /* rconn's `queued` once its bytes were queued */
};

struct rconn {
    struct ev_loop *loop;
    struct raddr addr;
    const char *name;
    double connect_timeout_s;
    double read_timeout_s; /* > 0 */
    rconn_state_fn *on_state;
    void *arg;

    enum phase phase;
    int fd;                /* -1 while down */
    SSL *ssl;              /* NULL for a plain connection */
    struct rtls_peek peek; /* what the TLS handshake saw */
    struct addrinfo *ais;  /* resolved addresses, NULL for a unix socket or while down */
    struct addrinfo *ai;   /* the one being tried */
    redisReader *reader;   /* while connected */
    char *out;             /* formatted commands; [out_off, out_len) not yet written */
    size_t out_len, out_off, out_cap;
    int tls_retry_len;     /* SSL_write's length to repeat after WANT_*, 0 for none */
    bool write_wants_read; /* SSL_write waits for the socket to be readable */
    bool read_wants_write; /* SSL_read waits for the socket to be writable */
    struct pending *head, **tail;
    size_t npending;
    unsigned nsetup;               /* setup commands still awaiting their replies */
    unsigned long long queued; /* bytes queued since connected (written: less out_len - out_off) */
    double last_io; /* ev_now() of the last progress: bytes read, bytes of the oldest command
                       awaiting its reply written, or the first command sent on a quiet
                       connection (bytes of later commands written say nothing of the server:
                       a stopped one takes them until the socket's buffer is full) */
    char last_error[256];          /* why the last attempt or connection failed, "" after up */
    struct redisReply *delivering; /* the reply being handed to its callback */
    rconn_reply_fn *on_push;       /* replies to no command (SUBSCRIBE's messages), or NULL */
    void *push_arg;
    struct sentinel_ask *ask;       /* while PHASE_LOCATE */
    struct resolve *resolving;      /* while PHASE_RESOLVE */
    size_t sentinel_at;             /* the sentinel asked first next time */
    struct sentinel_watcher *watch; /* +switch-master, with Sentinel */
    ev_timer switched;              /* a failover was published: reconnect, from the loop */

    bool no_evalsha; /* the user may not run EVALSHA: scripts go whole with EVAL */
    bool was_up;     /* for logging a state change once */
    bool told_down;  /* the current outage was logged */
    double backoff_s;
    double backoff_max_s; /* > 0 */
    double up_since;      /* ev_now() when it last came up */
    unsigned busy;        /* our callbacks on the stack: rconn_free() then defers free() */
    bool closed;          /* rconn_free() was called */
    int events;           /* of `io` while started, 0 while stopped */
    ev_io io;
    ev_prepare flush;   /* writes queued output before the loop waits: flush_soon() */
    unsigned flushed_in; /* ev_iteration() when `flush` last ran */
    ev_timer reconnect; /* waits backoff_s before the next attempt */
    ev_timer deadline;  /* connect timeout: connect, TLS handshake and setup */
    ev_timer wait;      /* read timeout of the oldest command */
};

static void connect_start(struct rconn *rc);
static void connect_host(struct rconn *rc);
static void connection_lost(struct rconn *rc, const char *why);

/* The URL without its secrets, for logs: "rediss://" "***@host:port/db", or "unix:PATH";
 * with Sentinel the master's name follows ("... (master NAME)"). */
static const char *addr_text(const struct rconn *rc, char *buf, size_t size)
{
    const struct raddr *a = &rc->addr;
    int n;

    if (a->path)
        n = snprintf(buf, size, "unix:%s", a->path);
    else
        n = snprintf(buf, size, strchr(a->host, ':') ? "%s://%s[%s]:%d/%d" : "%s://%s%s:%d/%d",
                     a->tls ? "rediss" : "redis", a->password ? "***@" : "", a->host, a->port,
                     a->db);
    if (a->sentinel_master && n >= 0 && (size_t)n < size)
        (void)snprintf(buf + n, size - (size_t)n, " (master %s)", a->sentinel_master);
    return buf;
}

/* Starts, changes or stops the socket watcher to wait for `events`. */
static void io_want(struct rconn *rc, int events)
{
    if (events == rc->events)
        return;
    ev_io_stop(rc->loop, &rc->io);
    rc->events = events;
    if (!events)
        return;
    ev_io_set(&rc->io, rc->fd, events);
    ev_io_start(rc->loop, &rc->io);
}

/* While connected: always readable; writable while there is output SSL_write can take and
 * the socket took not all of it (queued output is first written by flush_on_prepare()). */
static void io_update(struct rconn *rc)
{
    bool out = rc->out_off < rc->out_len && !rc->write_wants_read;

    io_want(rc, EV_READ | (out || rc->read_wants_write ? EV_WRITE : 0));
}

/* Closes the socket and forgets what was on its way; pendings stay for the caller. */
static void transport_close(struct rconn *rc)
{
    if (rc->ask) {
        sentinel_ask_cancel(rc->ask);
        rc->ask = NULL;
    }
    if (rc->resolving) {
        resolve_cancel(rc->resolving);
        rc->resolving = NULL;
    }
    io_want(rc, 0);
    ev_timer_stop(rc->loop, &rc->deadline);
    ev_timer_stop(rc->loop, &rc->wait);
    if (rc->ssl) {
        SSL_free(rc->ssl);
        rc->ssl = NULL;
    }
    if (rc->fd >= 0) {
        (void)close(rc->fd);
        rc->fd = -1;
    }
    if (rc->ais) {
        freeaddrinfo(rc->ais);
        rc->ais = rc->ai = NULL;
    }
    if (rc->reader) {
        redisReaderFree(rc->reader);
        rc->reader = NULL;
    }
    free(rc->out);
    rc->out = NULL;
    rc->out_len = rc->out_off = rc->out_cap = 0;
    rc->queued = 0;
    rc->tls_retry_len = 0;
    rc->write_wants_read = rc->read_wants_write = false;
    rc->nsetup = 0;
    rc->phase = PHASE_DOWN;
}

static struct pending *pending_pop(struct rconn *rc)
{
    struct pending *p = rc->head;

    if (!p)
        return NULL;
    rc->head = p->next;
    if (!rc->head)
        rc->tail = &rc->head;
    rc->npending--;
    return p;
}

/* Every command awaiting a reply gets NULL, in order; a callback may send (and is refused)
 * or free the rconn (which then fails the rest itself). */
static void pending_fail_all(struct rconn *rc)
{
    struct pending *p;

    while ((p = pending_pop(rc))) {
        p->done(NULL, p->arg);
        free(p);
    }
}

static void schedule_reconnect(struct rconn *rc)
{
    ev_timer_set(&rc->reconnect, rc->backoff_s, 0);
    ev_timer_start(rc->loop, &rc->reconnect);
    rc->backoff_s = rc->backoff_s * 2 > rc->backoff_max_s ? rc->backoff_max_s : rc->backoff_s * 2;
}

/* The connection is gone (failed to connect, lost, or timed out): tell the owner once. */
static void connection_lost(struct rconn *rc, const char *why)
{
    char where[512];
    bool was_up = rc->phase == PHASE_UP;

    transport_close(rc);
    (void)snprintf(rc->last_error, sizeof(rc->last_error), "%s", why);
    if (rc->was_up || !rc->told_down) {
        log_error("event=redis_down conn=%s addr=%s err=%s retry_in=%.1fs", rc->name,
                  addr_text(rc, where, sizeof(where)), log_q(rc->last_error), rc->backoff_s);
        rc->was_up = false;
        rc->told_down = true;
    } else {
        log_debug("event=redis_connect_failed conn=%s addr=%s err=%s retry_in=%.1fs", rc->name,
                  addr_text(rc, where, sizeof(where)), log_q(rc->last_error), rc->backoff_s);
    }
    schedule_reconnect(rc);
    pending_fail_all(rc);
    if (was_up && rc->on_state && !rc->closed)
        rc->on_state(rc, false, rc->arg);
}

static void connection_up(struct rconn *rc)
{
    char where[512];

    ev_timer_stop(rc->loop, &rc->deadline);
    rc->phase = PHASE_UP;
    rc->up_since = ev_now(rc->loop);
    rc->backoff_s = BACKOFF_MIN_S < rc->backoff_max_s ? BACKOFF_MIN_S : rc->backoff_max_s;
    rc->told_down = false;
    rc->last_error[0] = '\0';
    if (!rc->was_up) {
        log_info("event=redis_up conn=%s addr=%s db=%d tls=%s", rc->name,
                 addr_text(rc, where, sizeof(where)), rc->addr.db,
                 !rc->ssl              ? "off"
                 : rc->addr.tls_verify ? "on"
                                       : "unverified");
        rc->was_up = true;
    }
    if (rc->on_state)
        rc->on_state(rc, true, rc->arg);
}

/* Queued output is written by `flush`, a prepare watcher of the lowest priority, once a turn
 * just before the loop waits: what the callbacks of the turn queued leaves in one write, and
 * the socket is watched for writability only when it took not all of it (two epoll_ctl calls
 * and a loop turn less a round trip than waiting for it to say it is writable). Output queued
 * after `flush` ran in this turn's prepare phase (by another prepare watcher: libev counts the
 * turns just before it waits, so the count is the same) waits for writability as before. */
static void flush_soon(struct rconn *rc)
{
    if (rc->flushed_in == ev_iteration(rc->loop))
        io_update(rc);
}

/* Appends `len` formatted bytes and the pending for their reply; the bytes leave before the
 * loop next waits (flush_soon()), with whatever else was sent before it turns. */
static void command_queue(struct rconn *rc, char *cmd, size_t len, rconn_reply_fn *done, void *arg,
                          double wait_s, const char *setup)
{
    struct pending *p = xmalloc(sizeof(*p));

    if (rc->out_len + len > rc->out_cap) {
        rc->out_cap = rc->out_cap * 2 > rc->out_len + len ? rc->out_cap * 2 : rc->out_len + len;
        rc->out = xreallocarray(rc->out, rc->out_cap, 1);
    }
    memcpy(rc->out + rc->out_len, cmd, len);
    rc->out_len += len;
    rc->queued += len;
    *p = (struct pending){NULL, done, arg, wait_s, setup, rc->queued};
    if (!rc->head) { /* the clock of a quiet connection starts now */
        rc->last_io = ev_now(rc->loop);
        ev_timer_set(&rc->wait, isfinite(wait_s) ? wait_s : 0, 0);
        if (isfinite(wait_s))
            ev_timer_start(rc->loop, &rc->wait);
    }
    *rc->tail = p;
    rc->tail = &p->next;
    rc->npending++;
    flush_soon(rc);
}

static void setup_on_reply(struct redisReply *reply, void *arg);
static void role_on_reply(struct redisReply *reply, void *arg);

/* Sends one setup command of fixed words (AUTH's password may be binary-safe text). */
static void setup_send(struct rconn *rc, int argc, const char **argv, rconn_reply_fn *done)
{
    size_t len;
    char *cmd = resp_format(argc, argv, NULL, &len);

    command_queue(rc, cmd, len, done, rc, rc->read_timeout_s, argv[0]);
    free(cmd);
    rc->nsetup++;
}

/* hiredis's reader reserves an array for the count a header announces before any element
 * arrives: "*2000000000" from a hostile or broken server would reserve 16 GB. Replies nexusd
 * asks for are far smaller (pages of 100, batches of 1000); a larger announcement fails the
 * reader (REDIS_ERR_OOM) and the connection is dropped. */
static void *(*default_array)(const redisReadTask *task, int elements);
static redisReplyObjectFunctions capped_functions;

static void *capped_array(const redisReadTask *task, int elements)
{
    return elements > REPLY_MAX_ELEMENTS ? NULL : default_array(task, elements);
}

static redisReader *reader_new(void)
{
    redisReader *r = redisReaderCreate();

    assert(r); /* plain malloc in hiredis 0.14: NULL is out of memory */
    if (!default_array) {
        capped_functions = *r->fn;
        default_array = capped_functions.createArray;
        capped_functions.createArray = capped_array;
    }
    r->fn = &capped_functions;
    return r;
}

/* Connected (and TLS set up): AUTH, SELECT, or on TLS a PING that proves the session. */
static void setup_start(struct rconn *rc)
{
    char db[16];

    rc->phase = PHASE_SETUP;
    rc->reader = reader_new();
    if (rc->addr.password && rc->addr.username)
        setup_send(rc, 3, (const char *[]){"AUTH", rc->addr.username, rc->addr.password},
                   setup_on_reply);
    else if (rc->addr.password)
        setup_send(rc, 2, (const char *[]){"AUTH", rc->addr.password}, setup_on_reply);
    if (rc->addr.db) {
        (void)snprintf(db, sizeof(db), "%d", rc->addr.db);
        setup_send(rc, 2, (const char *[]){"SELECT", db}, setup_on_reply);
    }
    if (rc->addr.sentinel_master) /* the sentinels' answer may be stale: the server says */
        setup_send(rc, 1, (const char *[]){"ROLE"}, role_on_reply);
    if (rc->ssl && !rc->nsetup)
        setup_send(rc, 1, (const char *[]){"PING"}, setup_on_reply);
    if (!rc->nsetup)
        connection_up(rc);
}

/* Error replies to setup commands never come here: reply_dispatch() ends the connection. */
static void setup_on_reply(struct redisReply *reply, void *arg)
{
    struct rconn *rc = arg;

    if (reply && --rc->nsetup == 0)
        connection_up(rc);
}

/* A server the sentinels named must say it is the master (during a failover a sentinel may
 * still name the old one, or the old one may be back as a replica). */
static void role_on_reply(struct redisReply *reply, void *arg)
{
    struct rconn *rc = arg;

    if (reply && !sentinel_role_is_master(reply)) {
        connection_lost(rc, "ROLE: the server the sentinels named is not the master (a "
                            "failover under way?); asking the sentinels again");
        return;
    }
    setup_on_reply(reply, arg);
}

/* A write refused by a replica: the master moved (a failover, or a managed service that
 * swapped nodes behind its name). The command has its error; the connection is made again,
 * and with Sentinel the master asked for anew. */
static bool reply_is_readonly(const redisReply *reply)
{
    return reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "READONLY", 8) == 0;
}

/* A reply that ends the connection: an error to a setup command (AUTH, SELECT, PING), or a
 * reply no command awaits (a server's "-ERR max number of clients reached"). */
static void reply_unexpected(struct rconn *rc, struct pending *p, redisReply *reply)
{
    char why[sizeof(rc->last_error)];
    bool text = reply->type == REDIS_REPLY_ERROR || reply->type == REDIS_REPLY_STATUS;

    (void)snprintf(why, sizeof(why), "%s%s: %s", p ? p->setup : "a reply to no command",
                   p ? " failed" : "", text ? reply->str : "(not text)");
    free(p);
    freeReplyObject(reply);
    connection_lost(rc, why);
}

/* Replies in order to their commands, as long as the reader has whole ones. */
static void reply_dispatch(struct rconn *rc)
{
    char why[sizeof(rc->last_error)];
    struct pending *p;
    bool readonly;
    void *r;

    while (rc->phase >= PHASE_SETUP && !rc->closed) {
        if (redisReaderGetReply(rc->reader, &r) != REDIS_OK) {
            (void)snprintf(why, sizeof(why), "protocol error: %s",
                           rc->reader->err == REDIS_ERR_OOM
                               ? "a reply announcing more elements than nexusd ever asks for "
                                 "(over 4194304), or out of memory"
                               : rc->reader->errstr);
            connection_lost(rc, why);
            return;
        }
        if (!r)
            return;
        if (!rc->head && rc->on_push && rc->phase == PHASE_UP) {
            rc->delivering = r;
            rc->on_push(r, rc->push_arg);
            if (rc->delivering)
                freeReplyObject(rc->delivering);
            rc->delivering = NULL;
            continue;
        }
        p = pending_pop(rc);
        if (!p || (p->setup && ((redisReply *)r)->type == REDIS_REPLY_ERROR)) {
            reply_unexpected(rc, p, r);
            return;
        }
        if (!rc->head) {
            ev_timer_stop(rc->loop, &rc->wait);
        } else if (!ev_is_active(&rc->wait) && isfinite(rc->head->wait_s)) {
            ev_timer_set(&rc->wait, rc->head->wait_s, 0);
            ev_timer_start(rc->loop, &rc->wait);
        }
        rc->delivering = r;
        readonly = reply_is_readonly(r);
        p->done(r, p->arg);
        if (rc->delivering)
            freeReplyObject(rc->delivering);
        rc->delivering = NULL;
        free(p);
        if (readonly && rc->phase == PHASE_UP && !rc->closed)
            connection_lost(rc, "READONLY: the server is a replica now (a failover?); "
                                "reconnecting to the master");
    }
}

/* A TLS 1.3 session ended by the server right after the handshake, while AUTH/SELECT wait:
 * the client has finished its handshake before the server checks its certificate, so a
 * missing one shows as a reset or a close, not as a handshake error. Says so. */
static void lost_in_tls_setup(struct rconn *rc, const char *why)
{
    char text[sizeof(rc->last_error)];

    if (rc->ssl && rc->phase == PHASE_SETUP && !rc->addr.tls_cert_file) {
        (void)snprintf(text, sizeof(text),
                       "%s, right after the TLS handshake (a server that requires a client "
                       "certificate ends TLS 1.3 sessions so: see redis.tls_cert_file and "
                       "tls_key_file)",
                       why);
        why = text;
    }
    connection_lost(rc, why);
}

/* The server ended the connection (EOF): said plainly, since hosted Redis does it to idle
 * connections on its own schedule. */
static void conn_on_eof(struct rconn *rc)
{
    lost_in_tls_setup(rc, rc->phase == PHASE_UP && !rc->head
                              ? "the server closed the idle connection (Redis's timeout "
                                "setting, or the idle limit of a hosted Redis); reconnecting"
                              : "the server closed the connection");
}

/* One read of at most `size` bytes: > 0 bytes read, 0 nothing now, -1 the connection ended
 * (connection_lost() already called). */
static ssize_t conn_read_some(struct rconn *rc, char *buf, size_t size)
{
    char why[sizeof(rc->last_error)];
    ssize_t n;
    int r;

    if (!rc->ssl) {
        n = recv(rc->fd, buf, size, 0);
        if (n > 0)
            return n;
        if (n == 0)
            conn_on_eof(rc);
        else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return 0;
        else
            connection_lost(rc, strerror(errno));
        return -1;
    }
    ERR_clear_error();
    errno = 0;
    rc->read_wants_write = false;
    r = SSL_read(rc->ssl, buf, (int)size);
    if (r > 0)
        return r;
    switch (SSL_get_error(rc->ssl, r)) {
    case SSL_ERROR_WANT_READ:
        return 0;
    case SSL_ERROR_WANT_WRITE:
        rc->read_wants_write = true;
        return 0;
    case SSL_ERROR_ZERO_RETURN:
        conn_on_eof(rc);
        return -1;
    case SSL_ERROR_SYSCALL:
        if (errno == 0) {
            conn_on_eof(rc);
            return -1;
        }
        /* fall through */
    default:
        lost_in_tls_setup(rc, rtls_error(rc->ssl, r, &rc->peek, "TLS read", why, sizeof(why)));
        return -1;
    }
}

static void conn_read(struct rconn *rc)
{
    char buf[READ_CHUNK];
    ssize_t n;

    for (int i = 0; i < READS_PER_EVENT || (rc->ssl && SSL_pending(rc->ssl) > 0); i++) {
        n = conn_read_some(rc, buf, sizeof(buf));
        if (n <= 0)
            return;
        rc->last_io = ev_now(rc->loop);
        if (redisReaderFeed(rc->reader, buf, (size_t)n) != REDIS_OK) {
            connection_lost(rc, "out of memory reading a reply");
            return;
        }
        reply_dispatch(rc);
        if (rc->phase < PHASE_SETUP || rc->closed)
            return;
        if (!rc->ssl && (size_t)n < sizeof(buf))
            return; /* the socket had no more: a read now would say EAGAIN */
    }
}

/* One write of what is waiting: > 0 bytes written, 0 the socket is full, -1 the connection
 * ended (connection_lost() already called). */
static ssize_t conn_write_some(struct rconn *rc)
{
    size_t left = rc->out_len - rc->out_off;
    char why[sizeof(rc->last_error)];
    ssize_t n;
    int len, r;

    if (!rc->ssl) {
        n = send(rc->fd, rc->out + rc->out_off, left, MSG_NOSIGNAL);
        if (n >= 0)
            return n;
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return 0;
        connection_lost(rc, strerror(errno));
        return -1;
    }
    /* after WANT_*, OpenSSL wants the same length again (the buffer may have moved) */
    len = rc->tls_retry_len ? rc->tls_retry_len : left > INT_MAX ? INT_MAX : (int)left;
    ERR_clear_error();
    errno = 0;
    rc->write_wants_read = false;
    r = SSL_write(rc->ssl, rc->out + rc->out_off, len);
    if (r > 0) {
        rc->tls_retry_len = 0;
        return r;
    }
    switch (SSL_get_error(rc->ssl, r)) {
    case SSL_ERROR_WANT_READ:
        rc->write_wants_read = true;
        /* fall through */
    case SSL_ERROR_WANT_WRITE:
        rc->tls_retry_len = len;
        return 0;
    default:
        lost_in_tls_setup(rc, rtls_error(rc->ssl, r, &rc->peek, "TLS write", why, sizeof(why)));
        return -1;
    }
}

static void conn_write(struct rconn *rc)
{
    ssize_t n;

    while (rc->out_off < rc->out_len) {
        n = conn_write_some(rc);
        if (n <= 0)
            return;
        if (rc->head && rc->head->end > rc->queued - (rc->out_len - rc->out_off))
            rc->last_io = ev_now(rc->loop); /* the oldest command is still going out */
        rc->out_off += (size_t)n;
    }
    rc->out_off = rc->out_len = 0;
    if (rc->out_cap > OUT_KEEP) { /* a huge command went: do not keep its room */
        free(rc->out);
        rc->out = NULL;
        rc->out_cap = 0;
    }
}

static void handshake_step(struct rconn *rc)
{
    char why[sizeof(rc->last_error)];
    int r;

    ERR_clear_error();
    errno = 0;
    r = SSL_connect(rc->ssl);
    if (r == 1) {
        setup_start(rc);
        return;
    }
    switch (SSL_get_error(rc->ssl, r)) {
    case SSL_ERROR_WANT_READ:
        io_want(rc, EV_READ);
        return;
    case SSL_ERROR_WANT_WRITE:
        io_want(rc, EV_WRITE);
        return;
    default:
        connection_lost(rc, rtls_error(rc->ssl, r, &rc->peek, "TLS handshake", why, sizeof(why)));
    }
}

/* TCP_NODELAY for pipelines of small commands; keepalive so that a peer or NAT that vanished
 * is noticed even on a connection idle in BLMOVE. */
static void socket_tune(int fd)
{
    static const struct {
        int level, name, value;
    } opts[] = {
        {IPPROTO_TCP, TCP_NODELAY, 1},
        {SOL_SOCKET, SO_KEEPALIVE, 1},
        {IPPROTO_TCP, TCP_KEEPIDLE, KEEPALIVE_IDLE_S},
        {IPPROTO_TCP, TCP_KEEPINTVL, KEEPALIVE_INTERVAL_S},
        {IPPROTO_TCP, TCP_KEEPCNT, KEEPALIVE_PROBES},
    };

    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
        (void)setsockopt(fd, opts[i].level, opts[i].name, &opts[i].value, sizeof(opts[i].value));
}

/* The socket is connected: TLS next, or straight to setup. */
static void connect_done(struct rconn *rc)
{
    struct err err = {0};

    if (rc->ais) {
        socket_tune(rc->fd);
        freeaddrinfo(rc->ais);
        rc->ais = rc->ai = NULL;
    }
    if (!rc->addr.tls) {
        setup_start(rc);
        return;
    }
    rc->ssl = rtls_new(&rc->addr, &rc->peek, &err);
    if (!rc->ssl || SSL_set_fd(rc->ssl, rc->fd) != 1) {
        connection_lost(rc, rc->ssl ? "TLS: SSL_set_fd failed" : err.msg);
        return;
    }
    rc->phase = PHASE_HANDSHAKE;
    handshake_step(rc);
}

/* Starts a non-blocking connect() to `sa`: 0 under way (or done), else the errno. */
static int socket_connect(struct rconn *rc, int family, const struct sockaddr *sa, socklen_t len)
{
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return errno;
    if (connect(fd, sa, len) < 0 && errno != EINPROGRESS) { /* a unix socket's EAGAIN: full */
        int e = errno;

        (void)close(fd);
        return e;
    }
    rc->fd = fd;
    rc->phase = PHASE_CONNECT;
    io_want(rc, EV_WRITE); /* connect_done() from the loop, never from rconn_new() */
    return 0;
}

/* Tries the addresses from rc->ai on until one starts connecting. */
static void connect_next(struct rconn *rc, int last_errno)
{
    char why[sizeof(rc->last_error)];

    for (; rc->ai; rc->ai = rc->ai->ai_next) {
        last_errno = socket_connect(rc, rc->ai->ai_family, rc->ai->ai_addr, rc->ai->ai_addrlen);
        if (last_errno == 0)
            return;
    }
    (void)snprintf(why, sizeof(why), "connect: %s", strerror(last_errno));
    connection_lost(rc, why);
}

static void connect_on_writable(struct rconn *rc)
{
    int e = 0;
    socklen_t len = sizeof(e);

    if (getsockopt(rc->fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
        e = errno;
    if (e == 0) {
        connect_done(rc);
        return;
    }
    io_want(rc, 0);
    (void)close(rc->fd);
    rc->fd = -1;
    if (rc->ai)
        rc->ai = rc->ai->ai_next; /* e.g. ::1 refused, 127.0.0.1 next */
    connect_next(rc, e);          /* a unix socket has no next: fails with `e` */
}

static void rconn_destroy(struct rconn *rc)
{
    ev_timer_stop(rc->loop, &rc->switched);
    sentinel_unwatch(rc->watch);
    raddr_clear(&rc->addr);
    free(rc);
}

/* Every entry from the loop: the struct is freed here, once nothing of it is on the stack. */
#define ENTER(rc) ((rc)->busy++)
#define LEAVE(rc)                                                                                  \
    do {                                                                                           \
        if (--(rc)->busy == 0 && (rc)->closed)                                                     \
            rconn_destroy(rc);                                                                     \
    } while (0)

/* The sentinels answered (or none could): connect to the master they named. */
static void located(const char *host, int port, const struct err *err, void *arg)
{
    struct rconn *rc = arg;
    char where[512];

    rc->ask = NULL; /* it frees itself */
    ENTER(rc);
    if (!host) {
        rc->sentinel_at++; /* the next attempt starts with another sentinel */
        connection_lost(rc, err->msg);
    } else {
        if (strcmp(host, rc->addr.host) != 0 || port != rc->addr.port) {
            free(rc->addr.host);
            rc->addr.host = xstrdup(host);
            rc->addr.port = port;
            log_info("event=redis_master conn=%s addr=%s", rc->name,
                     addr_text(rc, where, sizeof(where)));
        }
        connect_host(rc);
    }
    LEAVE(rc);
}

/* The sentinels published a failover: a connection to another address is dropped (from
 * the loop) and made again, asking them anew. */
static void on_switch(const char *host, int port, void *arg)
{
    struct rconn *rc = arg;

    if (rc->phase == PHASE_UP && (strcmp(host, rc->addr.host) != 0 || port != rc->addr.port))
        ev_feed_event(rc->loop, &rc->switched, EV_TIMER);
}

static void switched_on_event(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct rconn *rc = w->data;

    ENTER(rc);
    if (rc->phase == PHASE_UP && !rc->closed)
        connection_lost(rc, "the sentinels announced a new master (+switch-master); "
                            "reconnecting to it");
    LEAVE(rc);
}

/* The host's addresses: connect to them in turn. */
static void resolved(struct addrinfo *ais, int gai_error, int sys_errno, void *arg)
{
    struct rconn *rc = arg;
    char why[sizeof(rc->last_error)];

    rc->resolving = NULL; /* it frees itself */
    ENTER(rc);
    if (!ais) {
        (void)snprintf(why, sizeof(why), "cannot resolve '%s': %s", rc->addr.host,
                       gai_error == EAI_SYSTEM ? strerror(sys_errno) : gai_strerror(gai_error));
        connection_lost(rc, why);
    } else {
        rc->ais = rc->ai = ais;
        connect_next(rc, ECONNREFUSED);
    }
    LEAVE(rc);
}

static void connect_start(struct rconn *rc)
{
    if (rc->addr.nsentinels) {
        rc->phase = PHASE_LOCATE; /* each sentinel has the connect timeout to answer */
        rc->ask = sentinel_ask(rc->loop, rc->addr.sentinels, rc->addr.nsentinels,
                               rc->sentinel_at % rc->addr.nsentinels, rc->addr.sentinel_master,
                               rc->connect_timeout_s, located, rc);
        return;
    }
    connect_host(rc);
}

static void connect_host(struct rconn *rc)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    char why[sizeof(rc->last_error)], port[16];
    int r;

    ev_timer_set(&rc->deadline, rc->connect_timeout_s, 0);
    ev_timer_start(rc->loop, &rc->deadline);
    if (rc->addr.path) {
        if (strlen(rc->addr.path) >= sizeof(sun.sun_path)) {
            connection_lost(rc, "the unix socket path is too long");
            return;
        }
        memcpy(sun.sun_path, rc->addr.path, strlen(rc->addr.path) + 1);
        r = socket_connect(rc, AF_UNIX, (const struct sockaddr *)&sun, sizeof(sun));
        if (r) {
            (void)snprintf(why, sizeof(why), "connect: %s", strerror(r));
            connection_lost(rc, why);
        }
        return;
    }
    (void)snprintf(port, sizeof(port), "%d", rc->addr.port);
    hints.ai_flags = AI_NUMERICHOST; /* an address: no lookup, no waiting */
    r = getaddrinfo(rc->addr.host, port, &hints, &rc->ais);
    if (r == 0) {
        rc->ai = rc->ais;
        connect_next(rc, ECONNREFUSED);
        return;
    }
    rc->ais = NULL;
    /* a name: looked up on a thread, the connect timeout running */
    rc->phase = PHASE_RESOLVE;
    rc->resolving = resolve_start(rc->loop, rc->addr.host, port, resolved, rc);
}

static void io_on_event(struct ev_loop *loop, ev_io *w, int revents)
{
    struct rconn *rc = w->data;

    ENTER(rc);
    if (rc->phase == PHASE_CONNECT) {
        connect_on_writable(rc);
    } else if (rc->phase == PHASE_HANDSHAKE) {
        handshake_step(rc);
    } else {
        if (revents & EV_READ || (revents & EV_WRITE && rc->read_wants_write))
            conn_read(rc);
        if (rc->phase >= PHASE_SETUP && !rc->closed &&
            (revents & EV_WRITE || (revents & EV_READ && rc->write_wants_read)))
            conn_write(rc);
        if (rc->phase >= PHASE_SETUP && !rc->closed)
            io_update(rc);
    }
    LEAVE(rc);
}

static void flush_on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
    struct rconn *rc = w->data;

    rc->flushed_in = ev_iteration(loop);
    if (rc->phase < PHASE_SETUP || rc->out_off == rc->out_len || rc->events & EV_WRITE ||
        rc->write_wants_read)
        return; /* nothing to write, or the socket's watcher writes when it may */
    ENTER(rc);
    conn_write(rc);
    if (rc->phase >= PHASE_SETUP && !rc->closed)
        io_update(rc);
    LEAVE(rc);
}

static void deadline_on_expire(struct ev_loop *loop, ev_timer *w, int revents)
{
    static const char *const why[] = {
        [PHASE_DOWN] = "connect timed out",
        [PHASE_LOCATE] = "connect timed out",
        [PHASE_RESOLVE] = "connect timed out looking up the host's name",
        [PHASE_CONNECT] = "connect timed out",
        [PHASE_HANDSHAKE] = "TLS handshake timed out",
        [PHASE_SETUP] = "connect timed out waiting for the replies to AUTH/SELECT",
        [PHASE_UP] = "connect timed out",
    };
    struct rconn *rc = w->data;
    bool silent = rc->phase == PHASE_HANDSHAKE && rc->peek.first_byte < 0;

    ENTER(rc);
    /* a plain Redis reads a ClientHello as the start of an inline command and waits */
    connection_lost(rc, silent ? "TLS handshake timed out with no answer from the server, as "
                                 "from one that speaks plain text (not a TLS port? use redis:// "
                                 "for a plain server)"
                               : why[rc->phase]);
    LEAVE(rc);
}

/* The oldest command's reply is late: silence for its whole wait ends the connection. */
static void wait_on_expire(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct rconn *rc = w->data;
    char why[sizeof(rc->last_error)];
    double left;

    if (!rc->head || !isfinite(rc->head->wait_s))
        return;
    left = rc->last_io + rc->head->wait_s - ev_now(loop);
    if (left > 0) {
        ev_timer_set(w, left, 0);
        ev_timer_start(loop, w);
        return;
    }
    (void)snprintf(why, sizeof(why),
                   "no reply within %gs (redis.read_timeout): the server or the network is "
                   "stuck",
                   rc->head->wait_s);
    ENTER(rc);
    connection_lost(rc, why);
    LEAVE(rc);
}

static void reconnect_on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct rconn *rc = w->data;

    ENTER(rc);
    connect_start(rc);
    LEAVE(rc);
}

struct rconn *rconn_new(struct ev_loop *loop, const struct raddr *addr, const char *name,
                        double connect_timeout_s, rconn_state_fn *on_state, void *arg)
{
    struct rconn *rc = xcalloc(1, sizeof(*rc));

    raddr_copy(&rc->addr, addr);
    rc->loop = loop;
    rc->name = name;
    rc->connect_timeout_s = connect_timeout_s;
    rc->read_timeout_s = addr->read_timeout_s > 0 ? addr->read_timeout_s : READ_TIMEOUT_S;
    rc->on_state = on_state;
    rc->arg = arg;
    rc->fd = -1;
    rc->tail = &rc->head;
    rc->backoff_s = BACKOFF_MIN_S;
    rc->backoff_max_s = BACKOFF_MAX_S;
    ev_io_init(&rc->io, io_on_event, -1, 0);
    rc->io.data = rc;
    ev_prepare_init(&rc->flush, flush_on_prepare);
    ev_set_priority(&rc->flush, EV_MINPRI);
    rc->flush.data = rc;
    ev_prepare_start(loop, &rc->flush);
    ev_unref(loop); /* keeps no loop alive */
    rc->flushed_in = ev_iteration(loop); /* output queued this turn waits for writability */
    ev_timer_init(&rc->reconnect, reconnect_on_timer, 0, 0);
    rc->reconnect.data = rc;
    ev_timer_init(&rc->deadline, deadline_on_expire, 0, 0);
    rc->deadline.data = rc;
    ev_timer_init(&rc->wait, wait_on_expire, 0, 0);
    rc->wait.data = rc;
    ev_timer_init(&rc->switched, switched_on_event, 0, 0);
    rc->switched.data = rc;
    if (rc->addr.nsentinels)
        rc->watch = sentinel_watch(loop, &rc->addr, connect_timeout_s, on_switch, rc);
    connect_start(rc); /* a failure now is logged and retried; no callback runs from here */
    return rc;
}

void rconn_free(struct rconn *rc)
{
    if (!rc || rc->closed)
        return;
    rc->closed = true;
    ev_ref(rc->loop);
    ev_prepare_stop(rc->loop, &rc->flush);
    ev_timer_stop(rc->loop, &rc->reconnect);
    transport_close(rc);
    ENTER(rc);
    pending_fail_all(rc);
    LEAVE(rc);
}

void rconn_set_push(struct rconn *rc, rconn_reply_fn *fn, void *arg)
{
    rc->on_push = fn;
    rc->push_arg = arg;
}

bool rconn_is_up(const struct rconn *rc)
{
    return rc->phase == PHASE_UP;
}

void rconn_set_backoff_max(struct rconn *rc, double max_s)
{
    rc->backoff_max_s = max_s;
    if (rc->backoff_s > max_s)
        rc->backoff_s = max_s;
}

double rconn_backoff_max(const struct rconn *rc)
{
    return rc->backoff_max_s;
}

double rconn_up_since(const struct rconn *rc)
{
    return rc->up_since;
}

const char *rconn_last_error(const struct rconn *rc)
{
    return rc->last_error[0] ? rc->last_error : NULL;
}

struct redisReply *rconn_reply_keep(struct rconn *rc)
{
    struct redisReply *reply = rc->delivering;

    rc->delivering = NULL;
    return reply;
}

/* Queues the command of these words, its reply awaited for at most wait_s. */
static int command_words(struct rconn *rc, rconn_reply_fn *done, void *arg, int argc,
                         const char **argv, const size_t *argvlen, double wait_s)
{
    size_t len;
    char *cmd;

    if (rc->phase != PHASE_UP)
        return -ENOTCONN;
    cmd = resp_format(argc, argv, argvlen, &len);
    command_queue(rc, cmd, len, done, arg, wait_s, NULL);
    free(cmd);
    return 0;
}

int rconn_command(struct rconn *rc, rconn_reply_fn *done, void *arg, int argc, const char **argv,
                  const size_t *argvlen)
{
    return command_words(rc, done, arg, argc, argv, argvlen, rc->read_timeout_s);
}

int rconn_command_blocking(struct rconn *rc, double block_s, rconn_reply_fn *done, void *arg,
                           int argc, const char **argv, const size_t *argvlen)
{
    return command_words(rc, done, arg, argc, argv, argvlen,
                         block_s > 0 ? block_s + rc->read_timeout_s : INFINITY);
}

int rconn_commandf(struct rconn *rc, rconn_reply_fn *done, void *arg, const char *fmt, ...)
{
    char *cmd = NULL;
    va_list ap;
    int len;

    if (rc->phase != PHASE_UP)
        return -ENOTCONN;
    va_start(ap, fmt);
    len = redisvFormatCommand(&cmd, fmt, ap);
    va_end(ap);
    assert(len > 0); /* hiredis 0.14 allocates with plain malloc: -1 is out of memory */
    command_queue(rc, cmd, (size_t)len, done, arg, rc->read_timeout_s, NULL);
    redisFreeCommand(cmd);
    return 0;
}

void rconn_eval_words_make(struct rconn_eval_words *w, const char *script, size_t nkeys,
                           const char *const *keys, size_t nargs, const char *const *args,
                           const size_t *arglens)
{
    size_t argc = 3 + nkeys + nargs, a = 0;

    assert(argc <= INT_MAX);
    w->argv = xreallocarray(NULL, argc, sizeof(*w->argv));
    w->lens = xreallocarray(NULL, argc, sizeof(*w->lens));
#define PUT(s, l) (w->argv[a] = (s), w->lens[a] = (l), a++)
    PUT("EVAL", 4);
    PUT(script, strlen(script));
    PUT(w->nkeys, decimal_put(w->nkeys, nkeys));
    for (size_t i = 0; i < nkeys; i++)
        PUT(keys[i], strlen(keys[i]));
    for (size_t i = 0; i < nargs; i++)
        PUT(args[i], arglens ? arglens[i] : strlen(args[i]));
#undef PUT
    w->argc = (int)a;
}

void rconn_eval_words_clear(struct rconn_eval_words *w)
{
    free(w->argv);
    free(w->lens);
    w->argv = NULL;
    w->lens = NULL;
    w->argc = 0;
}

/* The SHA-1 of a script, computed once: scripts are static texts, their address the key.
 * NULL when the table is full or OpenSSL failed (the script then goes whole). */
static const char *script_sha1(const char *script)
{
    static struct {
        const char *script;
        char sha1[DIGEST_SHA1_HEX];
    } known[SCRIPTS_MAX];
    size_t i;

    for (i = 0; i < SCRIPTS_MAX && known[i].script; i++)
        if (known[i].script == script)
            return known[i].sha1;
    if (i == SCRIPTS_MAX || digest_sha1_hex(script, strlen(script), known[i].sha1) < 0)
        return NULL;
    known[i].script = script;
    return known[i].sha1;
}

/* An EVALSHA awaiting its reply, kept as formatted to go again as EVAL if Redis lacks the
 * script (NOSCRIPT: its cache was flushed, or this is a new server) or the user may not run
 * EVALSHA (NOPERM). */
struct eval_call {
    struct rconn *rc;
    rconn_reply_fn *done;
    void *arg;
    const char *script;
    char *cmd; /* resp_format()'s: "*N\r\n$7\r\nEVALSHA\r\n$40\r\n<sha1>\r\n" and the rest of
                  the words */
    size_t len;
};

static bool reply_starts(const redisReply *reply, const char *prefix)
{
    return reply && reply->type == REDIS_REPLY_ERROR && reply->str &&
           strncmp(reply->str, prefix, strlen(prefix)) == 0;
}

/* Sends the call again as EVAL: the same words after a new head. */
static void eval_resend(struct eval_call *ec)
{
    struct rconn *rc = ec->rc;
    const char *nl = memchr(ec->cmd, '\n', ec->len);
    size_t head = (size_t)(nl - ec->cmd) + 1; /* "*N\r\n" */
    size_t skip = head + strlen("$7\r\nEVALSHA\r\n$40\r\n") + 40 + 2;
    size_t slen = strlen(ec->script);
    char *eval = xmalloc(ec->len + slen + 64), *p = eval;

    memcpy(p, ec->cmd, head);
    p += head;
    p += sprintf(p, "$4\r\nEVAL\r\n$%zu\r\n", slen);
    memcpy(p, ec->script, slen);
    p += slen;
    memcpy(p, "\r\n", 2);
    p += 2;
    memcpy(p, ec->cmd + skip, ec->len - skip);
    p += ec->len - skip;
    command_queue(rc, eval, (size_t)(p - eval), ec->done, ec->arg, rc->read_timeout_s, NULL);
    free(eval);
}

static void eval_on_reply(struct redisReply *reply, void *arg)
{
    struct eval_call *ec = arg;
    struct rconn *rc = ec->rc;
    bool denied = reply_starts(reply, "NOPERM") && strstr(reply->str, "evalsha");

    if ((reply_starts(reply, "NOSCRIPT") || denied) && rc->phase == PHASE_UP && !rc->closed) {
        if (denied && !rc->no_evalsha) {
            rc->no_evalsha = true;
            log_warn("event=redis_evalsha_denied conn=%s why=\"the Redis user may not run "
                     "EVALSHA: every script goes whole with EVAL (docs/redis.md lists "
                     "+evalsha)\"",
                     rc->name);
        }
        eval_resend(ec);
    } else {
        ec->done(reply, ec->arg);
    }
    free(ec->cmd);
    free(ec);
}

int rconn_eval(struct rconn *rc, rconn_reply_fn *done, void *arg, const char *script, size_t nkeys,
               const char *const *keys, size_t nargs, const char *const *args,
               const size_t *arglens)
{
    struct rconn_eval_words w;
    const char *sha1 = rc->no_evalsha ? NULL : script_sha1(script);
    struct eval_call *ec;
    size_t len;
    char *cmd;
    int r;

    rconn_eval_words_make(&w, script, nkeys, keys, nargs, args, arglens);
    if (!sha1 || rc->phase != PHASE_UP) {
        r = rconn_command(rc, done, arg, w.argc, w.argv, w.lens);
        rconn_eval_words_clear(&w);
        return r;
    }
    w.argv[0] = "EVALSHA", w.lens[0] = 7;
    w.argv[1] = sha1, w.lens[1] = DIGEST_SHA1_HEX - 1;
    cmd = resp_format(w.argc, w.argv, w.lens, &len);
    rconn_eval_words_clear(&w);
    ec = xmalloc(sizeof(*ec));
    *ec = (struct eval_call){rc, done, arg, script, cmd, len};
    command_queue(rc, ec->cmd, ec->len, eval_on_reply, ec, rc->read_timeout_s, NULL);
    return 0;
}

const char *rconn_reply_error(const struct redisReply *reply)
{
    if (!reply)
        return "connection lost";
    if (reply->type == REDIS_REPLY_ERROR)
        return reply->str;
    return NULL;
}
