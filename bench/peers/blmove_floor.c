/* blmove_floor.c - the least a Redis-list worker can do between a push and a job's start:
 * one connection blocked in BLMOVE (queue:default -> an in-flight list, no timeout), the
 * job's enqueued_at read from its text the moment the reply is parsed, then an LPOP acks it.
 * The peers harness's latency floor for Redis (bench/peers/cycle.sh): nexusd's enqueue ->
 * start latency against it is nexusd's own share, beanstalkd's against it that of the server.
 *
 * usage: blmove_floor HOST PORT N   sets bench:ready, takes N jobs, then sets bench:result
 *                                   to {"n": N, "lat_ms": [...]} (the harness's calc.py lat)
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* enqueued_at of a job's JSON text (seconds), or a negative number when it has none */
static double enqueued_at(const char *text)
{
    const char *p = strstr(text, "\"enqueued_at\"");

    if (!p)
        return -1;
    p += strlen("\"enqueued_at\"");
    while (*p == ' ' || *p == ':')
        p++;
    return strtod(p, NULL);
}

static redisReply *command(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    redisReply *r;

    va_start(ap, fmt);
    r = redisvCommand(c, fmt, ap);
    va_end(ap);
    if (!r || r->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "blmove_floor: %s\n", r ? r->str : c->errstr);
        exit(1);
    }
    return r;
}

int main(int argc, char **argv)
{
    redisContext *c;
    double *lat;
    char *out, *p;
    long n;

    if (argc != 4 || (n = strtol(argv[3], NULL, 10)) <= 0) {
        fprintf(stderr, "usage: blmove_floor HOST PORT N\n");
        return 2;
    }
    c = redisConnect(argv[1], atoi(argv[2]));
    if (!c || c->err) {
        fprintf(stderr, "blmove_floor: %s\n", c ? c->errstr : "out of memory");
        return 1;
    }
    lat = calloc((size_t)n, sizeof(*lat));
    out = malloc((size_t)n * 24 + 64);
    if (!lat || !out)
        return 1;
    freeReplyObject(command(c, "SET bench:ready 1"));
    for (long i = 0; i < n; i++) {
        redisReply *r = command(c, "BLMOVE queue:default floor:inflight RIGHT LEFT 0");
        double at = now_s(), enq = r->type == REDIS_REPLY_STRING ? enqueued_at(r->str) : -1;

        if (enq <= 0) {
            fprintf(stderr, "blmove_floor: a job without enqueued_at\n");
            return 1;
        }
        lat[i] = (at - enq) * 1000.0;
        freeReplyObject(r);
        freeReplyObject(command(c, "LPOP floor:inflight"));
    }
    p = out + sprintf(out, "{\"n\": %ld, \"lat_ms\": [", n);
    for (long i = 0; i < n; i++)
        p += sprintf(p, "%s%.4f", i ? ", " : "", lat[i]);
    strcpy(p, "]}");
    freeReplyObject(command(c, "SET bench:result %s", out));
    redisFree(c);
    free(lat);
    free(out);
    return 0;
}
