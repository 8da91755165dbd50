/* backoff.h - retry delays (pure). */
#ifndef BACKOFF_H
#define BACKOFF_H

/* Seconds to wait before retry number `retry_count` (0 for the first retry):
 * retry_count^4 + 15 + (rnd mod 10*(retry_count+1)), as Sidekiq does. */
double backoff_delay_s(int retry_count, unsigned long long rnd);

#endif
