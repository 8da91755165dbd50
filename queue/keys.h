/* keys.h - Redis key names under the configured namespace (pure). */
#ifndef KEYS_H
#define KEYS_H

/* "<ns><formatted>", e.g. keys_make("app:", "queue:%s", "default") = "app:queue:default".
 * Caller owns the result, release with free(); NULL on allocation failure. */
char *keys_make(const char *ns, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes "YYYY-MM-DD" (UTC) of `epoch_s` into buf (>= 11 bytes). Returns buf. */
char *keys_day(double epoch_s, char *buf);

/* Sidekiq's daily counters are kept this long (seconds), as Sidekiq does. */
#define KEYS_STAT_TTL_S 157680000

#endif
