/* cfg_int.h - conf's private contract: the key table's types, one load in progress, and the
 * loader's helpers that the rules (cfg_rules.c) use. Only conf/cfg_*.c include it. */
#ifndef CFG_INT_H
#define CFG_INT_H

#include <libconfig.h>
#include <stdbool.h>
#include <stddef.h>

#include "conf/cfg.h"
#include "lib/err.h"

/* Every size the file controls has one named maximum. */
#define CFG_MAX_URL 4096    /* redis.url, database.url bytes */
#define CFG_MAX_SECRET 1024 /* bytes of a webhook secret or the SMTP password */
#define CFG_MAX_SQL 65536   /* a sql class's statement bytes */
#define CFG_MAX_SCHEDULES 1000
#define CFG_MAX_SCHEDULE_NAME 128
#define CFG_MAX_SCHEDULE_ARGS 65536
#define CFG_MAX_NAMESPACE 128 /* redis.namespace bytes */
#define CFG_MAX_TAG 64        /* worker.tag bytes */
#define CFG_MAX_QUEUES 1000   /* entries of worker.queues */
#define CFG_MAX_CLASSES 10000 /* entries of classes */
#define CFG_MAX_NAME 128      /* a setting's full name, e.g. "worker.queues[12].weight" */
#define CFG_MAX_SENTINELS 16 /* entries of redis.sentinels */
#define CFG_MAX_PATH 4096     /* smtp.password_file, smtp.ca_file, smtp.templates bytes */
#define CFG_MAX_USER 256      /* a command class's user and group names */
#define CFG_MAX_GROUPS 65536  /* supplementary groups of a command class's user (NGROUPS_MAX) */

/* smtp.templates when the file is silent: optional, unlike a directory the file names. The
 * templates installed with nexusd: NEXUS_DATADIR is the build's DATADIR/nexusd (CMake). */
#ifndef NEXUS_DATADIR
#define NEXUS_DATADIR "/usr/local/share/nexusd"
#endif
#define CFG_TEMPLATES_DEFAULT NEXUS_DATADIR "/templates"

#define MIN 60.0
#define DAY 86400.0
#define INHERIT (-1.0) /* class default meaning "the worker's value", filled after the file */
#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

#define GOT_MAX 128 /* a value shown in a message, quoted and cut */

enum key_type {
    KEY_GROUP,    /* a group of settings, parsed with `sub` into the same base */
    KEY_UINT,     /* unsigned, an integer min..max */
    KEY_INT,      /* int, an integer min..max */
    KEY_DURATION, /* double seconds: a number or a string with a unit, min..max */
    KEY_STRING,   /* char *, owned: min..max bytes, no control characters */
    KEY_NAME,     /* as KEY_STRING, and no spaces either (queue names) */
    KEY_ENUM,     /* an enum (int-sized): one of the words of `words`, their index */
    KEY_BOOL,     /* bool: true | false; def 0 or 1 */
    KEY_QUEUES,   /* cfg.queues + nqueues: entries are a name or a group parsed with `sub` */
    KEY_LIST,     /* a list of named groups parsed with `sub`, described by `list` */
    KEY_STRINGS,  /* char **, owned, NULL-terminated: an array or list of max strings */
    KEY_ARGVS,    /* char ***, owned: one argv (strings) or a list of max argv arrays */
};

/* key.flags */
#define KEY_RESTART 0x1u /* read at start-up only: cfg_restart_changes() reports a change */

struct load;

/* A list of groups each with a unique name (classes, schedules): where the array and its
 * count live in struct cfg, and what one entry is. */
struct group_list {
    const char *what; /* "class", for messages */
    size_t size;      /* bytes of one entry */
    size_t array_at;  /* offset of the entries' pointer in struct cfg */
    size_t count_at;  /* offset of their size_t count */
    size_t name_at;   /* offset of the char *name in an entry */
    size_t line_at;   /* offset of the int line in an entry */
    /* checks an entry once its keys are read; NULL for none */
    int (*check)(struct load *ld, const config_setting_t *e, const char *name, void *entry);
    /* frees what `check` added to an entry beyond its keys; NULL for nothing */
    void (*clear)(void *entry);
};

/* The words a KEY_ENUM setting may hold; a word's index is its enum value. */
struct key_words {
    const char *const *names;
    size_t n;
    const char *allowed; /* for messages: "one of try|always|never" */
};

/* One setting: where it goes, what it may hold, what it holds when the file is silent. */
struct key {
    const char *name; /* inside its group */
    enum key_type type;
    double min, max;       /* numbers: the range; strings: bytes; lists: entries */
    double def;            /* numbers: the default (INHERIT: the worker's) */
    const char *def_str;   /* strings, enums, queues: the default; NULL: none (required) */
    size_t offset;         /* destination in the base struct */
    const struct key *sub; /* KEY_GROUP, KEY_QUEUES, KEY_LIST: the entries' keys */
    size_t nsub;
    const struct group_list *list; /* KEY_LIST */
    const struct key_words *words; /* KEY_ENUM */
    unsigned flags;                /* KEY_RESTART */
};

/* The table (cfg_keys.c): the file's top-level groups and lists. */
extern const struct key cfg_root_keys[];
extern const size_t cfg_nroot_keys;

/* Environment variables that win over a setting of the file (REDIS_URL: redis.url ...). */
struct cfg_env_var {
    const char *name;
    const struct key *key; /* a KEY_STRING of struct cfg */
};
extern const struct cfg_env_var cfg_env_vars[];
extern const size_t cfg_nenv_vars;

/* One load in progress. */
struct load {
    struct cfg *cfg; /* being filled; freed by the caller on failure */
    struct err *err;
    char url_where[ERR_MSG_MAX];      /* "FILE:LINE" of redis.url, "" when it is the default */
    bool smtp_url_env;                /* smtp.url came from SMTP_URL */
    char starttls_where[ERR_MSG_MAX]; /* "FILE:LINE" of smtp.starttls, "" when not set */
};

/* The loader's helpers (cfg_load.c). */
/* Fails with "FILE:LINE: <message>" at setting `s`; returns `code`. */
int cfg_fail_at(const config_setting_t *s, struct err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* err_quote() of a setting's text, cut after 80 bytes, in `buf` (`size` >= 16). */
const char *cfg_quote(const char *s, char *buf, size_t size);
/* What a setting holds, for "(got ...)": its value, or its kind when it is not a scalar. */
const char *cfg_got(const config_setting_t *s, char *buf, size_t size);
/* The URL quoted for a message, its credentials hidden (url_mask()). */
const char *cfg_url_show(const char *url, char *buf, size_t size);
/* Seconds in the largest unit that keeps them whole: 604800 -> "7d", 0.25 -> "250ms". */
const char *cfg_duration_fmt(double s, char *buf, size_t size);
/* A number's allowed range: "1..100000", or "1ms..7d" for a duration. */
const char *cfg_range_fmt(const struct key *key, char *buf, size_t size);
/* A string's allowed size: "at most 64 bytes" or "1..128 bytes". */
const char *cfg_bytes_fmt(const struct key *key, char *buf, size_t size);
/* The setting `key` of entry `e`, for its line; `e` itself when absent. */
const config_setting_t *cfg_member_or(const config_setting_t *e, const char *key);
/* Frees a NULL-terminated list of NULL-terminated argv vectors; accepts NULL. */
void cfg_argvs_free(char ***v);

/* The rules (cfg_rules.c). */
/* A classes[] entry once its keys are read; what it added is freed by cfg_class_clear(). */
int cfg_class_check(struct load *ld, const config_setting_t *e, const char *name, void *entry);
void cfg_class_clear(void *entry);
/* A schedules[] entry once its keys are read. */
int cfg_schedule_check(struct load *ld, const config_setting_t *e, const char *name, void *entry);
/* The checks across the settings of the file `lc`, once it is read. */
int cfg_rules_file(struct load *ld, const config_t *lc);
/* The checks once the environment is applied; fills what settings leave to others. */
int cfg_rules_final(struct load *ld, cfg_getenv_fn *get_env);

#endif
