/* rerun.c - jobs an operator pushes again. */
#include "queue/rerun.h"

#include <assert.h>
#include <stdint.h>

#include <jansson.h>

#include "conf/cfg.h"
#include "lib/job.h"

static void retry_count_give_back(json_t *root)
{
    json_t *v = json_object_get(root, "retry_count");

    if (!json_is_integer(v))
        return;
    if (json_integer_value(v) <= 0)
        (void)json_object_del(root, "retry_count");
    else
        (void)json_integer_set(v, json_integer_value(v) - 1);
}

void rerun_prepare(struct job *job, bool again, double now)
{
    json_t *root = job_root(job);

    (void)json_object_del(root, "at");
    if (again)
        retry_count_give_back(root);
    job_set_enqueued_at(job, now);
}

struct job *rerun_schedule_job(const struct cfg_schedule *sc, double now, unsigned long long rnd)
{
    json_t *args = json_loads(sc->args, 0, NULL);
    struct job *job;

    job = job_new(sc->class_name, args, sc->queue, NULL, now, 0, rnd);
    json_decref(args);
    assert(job); /* the configuration check made sure the schedule makes a job */
    (void)json_object_set_new(job_root(job), "nexus_schedule", json_string(sc->name));
    if (sc->unique_for_s > 0)
        (void)json_object_set_new(job_root(job), "unique_for", json_real(sc->unique_for_s));
    return job;
}

unsigned long long rerun_member_seed(const char *text, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull;

    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)text[i]) * 0x100000001b3ull;
    return h;
}
