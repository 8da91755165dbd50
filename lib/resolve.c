/* resolve.c - getaddrinfo() on a thread per lookup, the answer back through an ev_async. */
#include "lib/resolve.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <ev.h>

#include "lib/log.h"
#include "lib/xalloc.h"

/* Shared by the loop and the lookup thread: each holds a reference; `mu` guards `refs`,
 * `cancelled` and the async watcher against a send racing a stop. */
struct resolve {
    pthread_mutex_t mu;
    unsigned refs;  /* 2 at the start: the thread's and the owner's (until done or cancel) */
    bool cancelled; /* the owner gave up: nobody is told */
    struct ev_loop *loop;
    ev_async async; /* sent by the thread when the answer is in */
    char *host, *port;
    struct addrinfo *ais; /* the answer; freed with the request unless handed to `done` */
    int gai_error, sys_errno;
    resolve_fn *done;
    void *arg;
};

/* Drops one reference (mu held); the last one frees, after unlocking. */
static void resolve_unref_unlock(struct resolve *r)
{
    bool last = --r->refs == 0;

    (void)pthread_mutex_unlock(&r->mu);
    if (!last)
        return;
    if (r->ais)
        freeaddrinfo(r->ais);
    (void)pthread_mutex_destroy(&r->mu);
    free(r->host);
    free(r->port);
    free(r);
}

static void *lookup_thread(void *arg)
{
    struct resolve *r = arg;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *ais = NULL;
    int e = getaddrinfo(r->host, r->port, &hints, &ais);
    int saved = errno;

    (void)pthread_mutex_lock(&r->mu);
    r->ais = e == 0 ? ais : NULL;
    r->gai_error = e;
    r->sys_errno = e == EAI_SYSTEM ? saved : 0;
    if (!r->cancelled)
        ev_async_send(r->loop, &r->async); /* under mu: the owner cannot stop it meanwhile */
    resolve_unref_unlock(r);
    return NULL;
}

static void on_answer(struct ev_loop *loop, ev_async *w, int revents)
{
    struct resolve *r = w->data;
    struct addrinfo *ais;

    (void)pthread_mutex_lock(&r->mu);
    ev_async_stop(loop, w);
    ais = r->ais;
    r->ais = NULL; /* the owner's now */
    (void)pthread_mutex_unlock(&r->mu);
    r->done(ais, r->gai_error, r->sys_errno, r->arg);
    (void)pthread_mutex_lock(&r->mu);
    resolve_unref_unlock(r);
}

struct resolve *resolve_start(struct ev_loop *loop, const char *host, const char *port,
                              resolve_fn *done, void *arg)
{
    struct resolve *r = xcalloc(1, sizeof(*r));
    sigset_t all, old;
    pthread_attr_t attr;
    pthread_t t;
    int e;

    (void)pthread_mutex_init(&r->mu, NULL);
    r->refs = 2;
    r->loop = loop;
    r->host = xstrdup(host);
    r->port = xstrdup(port);
    r->done = done;
    r->arg = arg;
    ev_async_init(&r->async, on_answer);
    r->async.data = r;
    ev_async_start(loop, &r->async);
    /* the thread starts with every signal blocked: they stay the loop's */
    (void)sigfillset(&all);
    (void)pthread_sigmask(SIG_SETMASK, &all, &old);
    (void)pthread_attr_init(&attr);
    (void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    e = pthread_create(&t, &attr, lookup_thread, r);
    (void)pthread_attr_destroy(&attr);
    (void)pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e != 0) { /* no thread (a process at its limit): answer with the error, from the loop */
        log_warn("event=resolve_thread_failed host=%s err=%s", log_q(host), log_q(strerror(e)));
        r->refs = 1;
        r->gai_error = EAI_SYSTEM;
        r->sys_errno = e;
        ev_async_send(loop, &r->async);
    }
    return r;
}

void resolve_cancel(struct resolve *r)
{
    (void)pthread_mutex_lock(&r->mu);
    r->cancelled = true;
    ev_async_stop(r->loop, &r->async);
    resolve_unref_unlock(r);
}
