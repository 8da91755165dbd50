/* unique.c - a unique job's lock: key, value and time to live (pure). */
#include "queue/unique.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"
#include "queue/keys.h"

int unique_digest(const struct job *job, char out[JOB_SHA256_HEX])
{
    size_t len;
    const char *key = job_unique_key(job, &len);
    char *args, *text;
    int r;

    if (key)
        return job_sha256_hex(key, len, out);
    args = job_args_canonical(job);
    text = xasprintf("%s\n%s", job_class(job), args);
    r = job_sha256_hex(text, strlen(text), out);
    free(text);
    free(args);
    return r;
}

int unique_lock_make(struct unique_lock *l, const char *ns, const struct job *job,
                     double due_in_s)
{
    double for_s = job_unique_for(job), ms;
    char digest[JOB_SHA256_HEX];
    int r;

    memset(l, 0, sizeof(*l));
    if (for_s <= 0)
        return 0;
    r = unique_digest(job, digest);
    if (r < 0)
        return r;
    ms = ceil(((due_in_s > 0 ? due_in_s : 0) + for_s) * 1000);
    l->key = keys_unique(ns, digest);
    l->jid = job_jid(job);
    (void)snprintf(l->ttl_ms, sizeof(l->ttl_ms), "%.0f", ms < 1 ? 1 : ms);
    return 0;
}

void unique_lock_clear(struct unique_lock *l)
{
    free(l->key);
    memset(l, 0, sizeof(*l));
}
