/* ctl.h - what nexusctl's commands share: the run's context, the command table, options. */
#ifndef CTL_H
#define CTL_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

struct cfg;
struct err;
struct ctl_redis;
typedef struct json_t json_t;
struct job;

/* A command's negative errno decides nexusctl's exit status (see main() in ctl.c);
 * anything not listed here is a runtime error (1). Runtime paths never return these. */
#define CTL_EUSAGE (-EINVAL)    /* a bad command line: 2, with the short usage */
#define CTL_ECONFIG (-EBADR)    /* an unusable configuration: 2 */
#define CTL_ENOTFOUND (-ENOENT) /* no such job: 3 */

/* The configuration read without -c or NEXUS_CONFIG, when it exists. */
#define CTL_DEFAULT_CONFIG "/etc/nexusd/nexusd.conf"

/* Room for the words naming a command, e.g. "scheduled delete". */
#define CTL_PATH_MAX 64

struct ctl {
    const char *cfg_path;          /* -c FILE, borrowed from argv; NULL: defaults */
    bool json;                     /* --json: one JSON object on stdout */
    char path[CTL_PATH_MAX];       /* the command words so far, for usage and help */
    const struct ctl_command *cmd; /* the command running, for its usage */
    struct cfg *cfg;               /* owned; NULL until ctl_redis() */
    struct ctl_redis *redis;    /* owned; NULL until ctl_redis() */
};

/* `argv[0]` is the command's own name; options not yet parsed. */
typedef int ctl_run_fn(struct ctl *ctl, int argc, char **argv, struct err *err);

struct ctl_command {
    const char *name;
    const char *args;    /* what follows the name in the usage line */
    const char *summary; /* one line for the list of commands */
    const char *help;    /* the rest of --help: options, details */
    bool json;           /* accepts --json */
    ctl_run_fn *run;
};

/* One command-specific option, stored as given for the command to check. */
struct ctl_opt {
    const char *name; /* long name without "--" */
    bool has_arg;
    const char **ret_arg; /* has_arg: where the value goes (borrowed from argv) */
    bool *ret_flag;       /* !has_arg: set when given */
    char short_name;      /* also -X, or 0 for none (not h, c or j) */
};

/* Parses a command's options with -h/--help, -c/--config and --json (an error unless
 * ctl->cmd->json), then its operands, at most `npos`, into `ret_pos` (borrowed from argv;
 * NULL for those not given). Returns 0, 1 when --help was printed (the command is done),
 * or CTL_EUSAGE with a sentence in `err`. */
int ctl_parse_args(struct ctl *ctl, int argc, char **argv, const struct ctl_opt *opts, size_t nopts,
                   const char **ret_pos, size_t npos, struct err *err);
/* Prints the command's full help (usage line and ctl->cmd->help) on stdout. */
void ctl_print_help(const struct ctl *ctl);
/* Appends a word to ctl->path. */
void ctl_path_push(struct ctl *ctl, const char *word);

/* Loads the configuration, once. Borrowed, valid until the run ends. Fills `err`
 * (CTL_ECONFIG) and returns NULL on failure. */
const struct cfg *ctl_cfg(struct ctl *ctl, struct err *err);
/* The same, for a command (`what`, e.g. "history") that reads PostgreSQL: NULL with
 * CTL_ECONFIG also when neither database.url nor database.pool_url is set. Borrowed, valid
 * until the run ends. */
const struct cfg *ctl_cfg_db(struct ctl *ctl, const char *what, struct err *err);
/* The URL reads go through: the direct database.url, else database.pool_url (a read needs no
 * session). Borrowed from `cfg`; NULL when neither is set. */
const char *ctl_db_url(const struct cfg *cfg);
/* Loads the configuration and connects to Redis, once. Borrowed, valid until the run
 * ends. Fills `err` (CTL_ECONFIG or a runtime error) and returns NULL on failure. */
struct ctl_redis *ctl_redis(struct ctl *ctl, struct err *err);
/* The namespace, "" before ctl_redis(). Borrowed. */
const char *ctl_ns(const struct ctl *ctl);

/* Live processes (their heartbeat not expired), how many of them read `queue` (their
 * worker.queues names it) and how many know `class_name` (among the classes they publish; one
 * that publishes none counts): ctl_stats.c. Returns 0, or a runtime error. */
int ctl_queue_readers(struct ctl *ctl, const char *queue, const char *class_name,
                      size_t *ret_live, size_t *ret_readers, size_t *ret_knowers,
                      struct err *err);

/* Every queue of the `queues` set, and those paused before any job came, sorted by name, as
 * `stats` shows them: [{"name", "size", "latency" (s since the oldest job's enqueued_at),
 * "paused", "readers" (live processes whose worker.queues names it)}]: ctl_stats.c. Caller
 * owns the array, release with json_decref(). Returns 0, or a runtime error. */
int ctl_queues_report(struct ctl *ctl, json_t **ret_queues, struct err *err);
/* The live processes sorted by identity, as `processes --json` shows them but without their
 * jobs in flight ("in_flight" is 0): ctl_stats.c. Caller owns the array, release with
 * json_decref(). Returns 0, or a runtime error. */
int ctl_processes_live(struct ctl *ctl, json_t **ret_procs, struct err *err);

/* Pushes `job` (borrowed; `text` is its JSON, `len` bytes) as a Sidekiq client does: onto
 * queue `queue` now when `at` is QUEUE_PUSH_NOW, else into schedule due at `at` (epoch s);
 * see queue/push.h. A unique job takes its lock in the same call, and is not pushed while
 * another job holds it. Prints the jid of the job that will run: its own, or the holder's
 * with "duplicate of JID" on stderr; *ret_pushed (NULL: not wanted) says which. */
int ctl_push_job(struct ctl_redis *c, const char *ns, const char *queue, double at,
                 const struct job *job, const char *text, size_t len, bool *ret_pushed,
                 struct err *err);

/* The commands, each defined in its own file. */
extern const struct ctl_command ctl_cmd_enqueue;
extern const struct ctl_command ctl_cmd_stats;
extern const struct ctl_command ctl_cmd_processes;
extern const struct ctl_command ctl_cmd_dead;
extern const struct ctl_command ctl_cmd_retry;
extern const struct ctl_command ctl_cmd_scheduled;
extern const struct ctl_command ctl_cmd_history;
extern const struct ctl_command ctl_cmd_cron;
extern const struct ctl_command ctl_cmd_queue;
extern const struct ctl_command ctl_cmd_pause;
extern const struct ctl_command ctl_cmd_resume;
extern const struct ctl_command ctl_cmd_quiet;
extern const struct ctl_command ctl_cmd_stop;
extern const struct ctl_command ctl_cmd_runs;
extern const struct ctl_command ctl_cmd_types;

#endif
