/* lazy_pq.h - libpq, loaded when a PostgreSQL URL is first read (lib/lazy.h): include
 * <libpq-fe.h> and call libpq as usual; this module defines its functions. */
#ifndef LAZY_PQ_H
#define LAZY_PQ_H

/* Loads libpq if it is not yet. Returns 0, or -ENOENT with *ret_why (static, valid until
 * the next call) saying what is missing. db_pool.c calls it before it reads a conninfo, the
 * first libpq call of every path. */
int lazy_pq_load(const char **ret_why);

#endif
