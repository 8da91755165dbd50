/* migrate.h - nexusd's schema migrations: numbered .sql files under sql/migrations, built
 * into the binary, applied in order, one transaction each, under an advisory lock. Uses
 * blocking libpq: for start-up (before the loop runs) and `nexusd migrate` only. */
#ifndef MIGRATE_H
#define MIGRATE_H

#include <stddef.h>

struct err;

struct migration {
    int version;      /* NNN of NNN_name.sql, > 0, increasing */
    const char *name; /* name of NNN_name.sql */
    const char *sql;  /* the file's text */
};

/* Every migration, in order (generated from sql/migrations by scripts/embed.cmake). */
extern const struct migration migrations[];
extern const size_t nmigrations;

/* Called once per migration applied (or found changed since it was applied). */
typedef void migrate_report_fn(const struct migration *m, const char *what, void *arg);

/* Applies the pending migrations, each in its own transaction recorded in
 * nexus.schema_migrations, holding a PostgreSQL advisory lock so that processes starting
 * together apply each migration once. Returns the number applied (>= 0), or a negative
 * errno with a sentence in `err`; a failed migration is rolled back and names its file. */
int migrate_apply(const char *conninfo, migrate_report_fn *report, void *arg, struct err *err);

/* Counts the migrations not applied yet. Writes the first pending one (or NULL) to
 * *ret_first. Returns the count (>= 0), or a negative errno with a sentence in `err`. */
int migrate_pending(const char *conninfo, const struct migration **ret_first, struct err *err);

#endif
