/* backoff.c - Sidekiq's retry schedule: polynomial growth plus jitter. */
#include "queue/backoff.h"

double backoff_delay_s(int retry_count, unsigned long long rnd)
{
    double n = retry_count < 0 ? 0 : retry_count;
    unsigned long long span = 10ull * (unsigned long long)(n + 1);

    return n * n * n * n + 15 + (double)(rnd % span);
}
