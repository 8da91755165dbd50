/* cfg_load.c - the loader: reads the libconfig file, checks every setting against its row of
 * the table (cfg_keys.c), applies the environment, runs the rules (cfg_rules.c); and the
 * configuration's lifetime. */
#include "conf/cfg.h"

#include <assert.h>
#include <errno.h>
#include <libconfig.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/cfg_int.h"
#include "conf/secret.h"
#include "lib/err.h"
#include "lib/mail_tmpl.h"
#include "lib/parse.h"
#include "lib/urlmask.h"
#include "lib/xalloc.h"

static int value_load(struct load *ld, const config_setting_t *s, const char *name,
                      const struct key *key, void *base);
static void queues_clear(const struct key *key, struct cfg *cfg);
static void list_clear(const struct key *key, struct cfg *cfg);
static void strv_free(char **v);
static int strings_load(struct load *ld, const config_setting_t *s, const char *name,
                        const struct key *key, void *base);
static int argvs_load(struct load *ld, const config_setting_t *s, const char *name,
                      const struct key *key, void *base);

static void *field(void *base, const struct key *key)
{
    return (char *)base + key->offset;
}

/* Replaces the owned string at `key` in `base` with a copy of `s`. */
static void string_set(const struct key *key, const char *s, void *base)
{
    char **dst = field(base, key);

    free(*dst);
    *dst = xstrdup(s);
}

int cfg_fail_at(const config_setting_t *s, struct err *err, int code, const char *fmt, ...)
{
    const char *file = config_setting_source_file(s);
    char msg[ERR_MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return err_set(err, code, "%s:%u: %s", file ? file : "?",
                   (unsigned)config_setting_source_line(s), msg);
}

const char *cfg_quote(const char *s, char *buf, size_t size)
{
    return err_quote(s, strlen(s), 80, buf, size);
}

const char *cfg_got(const config_setting_t *s, char *buf, size_t size)
{
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        (void)snprintf(buf, size, "%lld", config_setting_get_int64(s));
        return buf;
    case CONFIG_TYPE_FLOAT:
        (void)snprintf(buf, size, "%g", config_setting_get_float(s));
        return buf;
    case CONFIG_TYPE_BOOL:
        return config_setting_get_bool(s) ? "true" : "false";
    case CONFIG_TYPE_STRING:
        return cfg_quote(config_setting_get_string(s), buf, size);
    case CONFIG_TYPE_GROUP:
        return "a group";
    case CONFIG_TYPE_ARRAY:
        return "an array";
    case CONFIG_TYPE_LIST:
        return "a list";
    default:
        return "nothing";
    }
}

const char *cfg_duration_fmt(double s, char *buf, size_t size)
{
    static const struct {
        const char *suffix;
        double seconds;
    } units[] = {{"d", DAY}, {"h", 3600}, {"m", MIN}, {"s", 1}, {"ms", 0.001}};

    for (size_t i = 0; i < NELEMS(units); i++) {
        double n = s / units[i].seconds;

        if (n >= 1 && n < 1e15 && fabs(n - round(n)) < 1e-9 * n) {
            (void)snprintf(buf, size, "%.0f%s", round(n), units[i].suffix);
            return buf;
        }
    }
    (void)snprintf(buf, size, "%gs", s);
    return buf;
}

/* The allowed range of a number: "1..100000", or "1ms..7d" for a duration. */
const char *cfg_range_fmt(const struct key *key, char *buf, size_t size)
{
    char lo[32], hi[32];

    if (key->type == KEY_DURATION)
        (void)snprintf(buf, size, "%s..%s", cfg_duration_fmt(key->min, lo, sizeof(lo)),
                       cfg_duration_fmt(key->max, hi, sizeof(hi)));
    else
        (void)snprintf(buf, size, "%.0f..%.0f", key->min, key->max);
    return buf;
}

/* The allowed size of a string: "at most 64 bytes" or "1..128 bytes". */
const char *cfg_bytes_fmt(const struct key *key, char *buf, size_t size)
{
    if (key->min == 0)
        (void)snprintf(buf, size, "at most %.0f bytes", key->max);
    else
        (void)snprintf(buf, size, "%.0f..%.0f bytes", key->min, key->max);
    return buf;
}

static const struct key *key_find(const struct key *keys, size_t nkeys, const char *name)
{
    for (size_t i = 0; i < nkeys; i++)
        if (strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

/* A KEY_ENUM setting to the index of its word `s`; -EINVAL when `s` is none of them. */
static int enum_set(const struct key *key, const char *s, void *base)
{
    for (size_t i = 0; i < key->words->n; i++) {
        if (strcmp(s, key->words->names[i]) == 0) {
            *(int *)field(base, key) = (int)i;
            return 0;
        }
    }
    return -EINVAL;
}

/* Frees what `keys` own in `base`: strings and lists. */
static void keys_free(const struct key *keys, size_t nkeys, void *base)
{
    for (size_t i = 0; i < nkeys; i++) {
        const struct key *key = &keys[i];

        switch (key->type) {
        case KEY_GROUP:
            keys_free(key->sub, key->nsub, base);
            break;
        case KEY_STRING:
        case KEY_NAME:
            free(*(char **)field(base, key));
            *(char **)field(base, key) = NULL;
            break;
        case KEY_QUEUES:
            queues_clear(key, base);
            break;
        case KEY_LIST:
            list_clear(key, base);
            break;
        case KEY_STRINGS:
            strv_free(*(char ***)field(base, key));
            *(char ***)field(base, key) = NULL;
            break;
        case KEY_ARGVS:
            cfg_argvs_free(*(char ****)field(base, key));
            *(char ****)field(base, key) = NULL;
            break;
        default:
            break;
        }
    }
}

static void queues_clear(const struct key *key, struct cfg *cfg)
{
    for (size_t i = 0; i < cfg->nqueues; i++)
        keys_free(key->sub, key->nsub, &cfg->queues[i]);
    free(cfg->queues);
    cfg->queues = NULL;
    cfg->nqueues = 0;
}

static void **list_array(const struct group_list *gl, struct cfg *cfg)
{
    return (void **)((char *)cfg + gl->array_at);
}

static size_t *list_count(const struct group_list *gl, struct cfg *cfg)
{
    return (size_t *)((char *)cfg + gl->count_at);
}

static char *list_entry(const struct group_list *gl, struct cfg *cfg, size_t i)
{
    return (char *)*list_array(gl, cfg) + i * gl->size;
}

static void list_clear(const struct key *key, struct cfg *cfg)
{
    const struct group_list *gl = key->list;

    for (size_t i = 0; i < *list_count(gl, cfg); i++) {
        keys_free(key->sub, key->nsub, list_entry(gl, cfg, i));
        if (gl->clear)
            gl->clear(list_entry(gl, cfg, i));
    }
    free(*list_array(gl, cfg));
    *list_array(gl, cfg) = NULL;
    *list_count(gl, cfg) = 0;
}

/* Empties cfg->queues and makes room for `n` zeroed entries (n >= 1). */
static void queues_alloc(const struct key *key, struct cfg *cfg, size_t n)
{
    queues_clear(key, cfg);
    cfg->queues = xcalloc(n, sizeof(cfg->queues[0]));
    cfg->nqueues = n;
}

/* Writes the defaults of `keys` into `base`; keys without one are left as they are. */
static void defaults_apply(const struct key *keys, size_t nkeys, void *base)
{
    for (size_t i = 0; i < nkeys; i++) {
        const struct key *key = &keys[i];
        int r;

        switch (key->type) {
        case KEY_GROUP:
            defaults_apply(key->sub, key->nsub, base);
            break;
        case KEY_UINT:
            *(unsigned *)field(base, key) = (unsigned)key->def;
            break;
        case KEY_INT:
            *(int *)field(base, key) = (int)key->def;
            break;
        case KEY_DURATION:
            *(double *)field(base, key) = key->def;
            break;
        case KEY_BOOL:
            *(bool *)field(base, key) = key->def != 0;
            break;
        case KEY_STRING:
        case KEY_NAME:
            if (key->def_str)
                string_set(key, key->def_str, base);
            break;
        case KEY_ENUM:
            r = enum_set(key, key->def_str, base);
            assert(r == 0); /* the table's default is one of its words */
            (void)r;
            break;
        case KEY_QUEUES:
            queues_alloc(key, base, 1);
            defaults_apply(key->sub, key->nsub, ((struct cfg *)base)->queues);
            string_set(&key->sub[0], key->def_str, ((struct cfg *)base)->queues);
            break;
        case KEY_LIST:
        case KEY_STRINGS:
        case KEY_ARGVS:
            break;
        }
    }
}

/* Reads a group's settings with `keys` into `base`; `prefix` is the group's full name. */
static int group_load(struct load *ld, const config_setting_t *group, const char *prefix,
                      const struct key *keys, size_t nkeys, void *base)
{
    const char *dot = *prefix ? "." : "";
    char name[CFG_MAX_NAME], buf[GOT_MAX];
    int n = config_setting_length(group), r;

    if (config_setting_type(group) != CONFIG_TYPE_GROUP)
        return cfg_fail_at(group, ld->err, -EINVAL, "%s must be a group (got %s)", prefix,
                           cfg_got(group, buf, sizeof(buf)));
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
        const char *sname = config_setting_name(s);
        const struct key *key = key_find(keys, nkeys, sname);

        if (!key)
            return cfg_fail_at(s, ld->err, -EINVAL, "unknown setting '%s%s%s'", prefix, dot, sname);
        (void)snprintf(name, sizeof(name), "%s%s%s", prefix, dot, sname);
        r = value_load(ld, s, name, key, base);
        if (r < 0)
            return r;
    }
    return 0;
}

static int integer_load(struct load *ld, const config_setting_t *s, const char *name,
                        const struct key *key, void *base)
{
    int type = config_setting_type(s);
    char range[80], buf[GOT_MAX];
    long long v;

    if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
        return cfg_fail_at(s, ld->err, -EINVAL, "%s must be an integer %s (got %s)", name,
                           cfg_range_fmt(key, range, sizeof(range)), cfg_got(s, buf, sizeof(buf)));
    v = config_setting_get_int64(s);
    if ((double)v < key->min || (double)v > key->max)
        return cfg_fail_at(s, ld->err, -EINVAL, "%s must be %s (got %lld)", name,
                           cfg_range_fmt(key, range, sizeof(range)), v);
    if (key->type == KEY_UINT)
        *(unsigned *)field(base, key) = (unsigned)v;
    else
        *(int *)field(base, key) = (int)v;
    return 0;
}

static int duration_load(struct load *ld, const config_setting_t *s, const char *name,
                         const struct key *key, void *base)
{
    char range[80], buf[GOT_MAX];
    double v = 0;
    int r;

    switch (config_setting_type(s)) {
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        v = (double)config_setting_get_int64(s);
        r = v >= key->min && v <= key->max ? 0 : -ERANGE;
        break;
    case CONFIG_TYPE_FLOAT:
        v = config_setting_get_float(s);
        r = v >= key->min && v <= key->max ? 0 : -ERANGE;
        break;
    case CONFIG_TYPE_STRING:
        r = parse_duration(config_setting_get_string(s), key->min, key->max, &v);
        break;
    default:
        r = -EINVAL;
        break;
    }
    if (r == -ERANGE)
        return cfg_fail_at(s, ld->err, -EINVAL, "%s must be %s (got %s)", name,
                           cfg_range_fmt(key, range, sizeof(range)), cfg_got(s, buf, sizeof(buf)));
    if (r < 0)
        return cfg_fail_at(
            s, ld->err, -EINVAL,
            "%s must be a duration %s, in seconds or with a unit ms|s|m|h|d (got %s)", name,
            cfg_range_fmt(key, range, sizeof(range)), cfg_got(s, buf, sizeof(buf)));
    *(double *)field(base, key) = v;
    return 0;
}

static int string_load(struct load *ld, const config_setting_t *s, const char *name,
                       const struct key *key, void *base)
{
    char bytes[48], buf[GOT_MAX];
    const char *v;
    size_t len;

    if (config_setting_type(s) != CONFIG_TYPE_STRING)
        return cfg_fail_at(s, ld->err, -EINVAL, "%s must be a string of %s (got %s)", name,
                           cfg_bytes_fmt(key, bytes, sizeof(bytes)), cfg_got(s, buf, sizeof(buf)));
    v = config_setting_get_string(s);
    len = strlen(v);
    if ((double)len < key->min || (double)len > key->max)
        return cfg_fail_at(s, ld->err, -EINVAL, "%s must be %s (got %zu bytes)", name,
                           cfg_bytes_fmt(key, bytes, sizeof(bytes)), len);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)v[i];

        if (key->type == KEY_NAME && c == ' ')
            return cfg_fail_at(s, ld->err, -EINVAL,
                               "%s must not contain spaces or control characters (got %s)", name,
                               cfg_quote(v, buf, sizeof(buf)));
        if (c < 0x20 || c == 0x7f) /* the value is not shown: URLs may carry a password */
            return cfg_fail_at(s, ld->err, -EINVAL,
                               "%s must not contain control characters (got 0x%02x at byte %zu)",
                               name, c, i);
    }
    string_set(key, v, base);
    return 0;
}

/* log.level, smtp.starttls ...: one of the words of key->words. */
static int enum_load(struct load *ld, const config_setting_t *s, const char *name,
                     const struct key *key, void *base)
{
    char buf[GOT_MAX];

    if (config_setting_type(s) != CONFIG_TYPE_STRING ||
        enum_set(key, config_setting_get_string(s), base) < 0)
        return cfg_fail_at(s, ld->err, -EINVAL, "%s must be %s (got %s)", name, key->words->allowed,
                           cfg_got(s, buf, sizeof(buf)));
    return 0;
}

static int bool_load(struct load *ld, const config_setting_t *s, const char *name,
                     const struct key *key, void *base)
{
    char buf[GOT_MAX];

    if (config_setting_type(s) != CONFIG_TYPE_BOOL)
        return cfg_fail_at(s, ld->err, -EINVAL, "%s must be true or false (got %s)", name,
                           cfg_got(s, buf, sizeof(buf)));
    *(bool *)field(base, key) = config_setting_get_bool(s) != 0;
    return 0;
}

/* One entry of a list: a group read with `keys`, whose first key is the entry's name. */
static int entry_load(struct load *ld, const config_setting_t *e, const char *name,
                      const struct key *keys, size_t nkeys, void *base)
{
    int r;

    defaults_apply(keys, nkeys, base);
    r = group_load(ld, e, name, keys, nkeys, base);
    if (r < 0)
        return r;
    if (!*(char **)field(base, &keys[0]))
        return cfg_fail_at(e, ld->err, -EINVAL, "%s must have a %s", name, keys[0].name);
    return 0;
}

/* worker.queues: ( "a", { name = "b"; weight = 3; } ). */
static int queues_load(struct load *ld, const config_setting_t *s, const char *name,
                       const struct key *key, void *base)
{
    struct cfg *cfg = base; /* lists live in struct cfg itself */
    int type = config_setting_type(s), n = config_setting_length(s), r;
    char ename[CFG_MAX_NAME], buf[GOT_MAX];

    if (type != CONFIG_TYPE_LIST && type != CONFIG_TYPE_ARRAY)
        return cfg_fail_at(s, ld->err, -EINVAL, "%s must be a list of queue names (got %s)", name,
                           cfg_got(s, buf, sizeof(buf)));
    if ((double)n < key->min || (double)n > key->max)
        return cfg_fail_at(s, ld->err, -EINVAL, "%s must name %.0f..%.0f queues (got %d)", name,
                           key->min, key->max, n);
    queues_alloc(key, cfg, (size_t)n);
    r = 0;
    for (int i = 0; i < n && r == 0; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        struct cfg_queue *q = &cfg->queues[i];

        (void)snprintf(ename, sizeof(ename), "%s[%d]", name, i);
        if (config_setting_type(e) == CONFIG_TYPE_STRING) {
            defaults_apply(key->sub, key->nsub, q);
            r = value_load(ld, e, ename, &key->sub[0], q);
        } else if (config_setting_type(e) == CONFIG_TYPE_GROUP) {
            r = entry_load(ld, e, ename, key->sub, key->nsub, q);
        } else {
            r = cfg_fail_at(e, ld->err, -EINVAL,
                            "%s must be a queue name or a group { name = \"...\"; weight = N; } "
                            "(got %s)",
                            ename, cfg_got(e, buf, sizeof(buf)));
        }
        for (int j = 0; j < i && r == 0; j++)
            if (strcmp(cfg->queues[j].name, q->name) == 0)
                r = cfg_fail_at(e, ld->err, -EINVAL, "duplicate queue '%s' in %s", q->name, name);
    }
    return r;
}

static void strv_free(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

void cfg_argvs_free(char ***v)
{
    if (!v)
        return;
    for (char ***p = v; *p; p++)
        strv_free(*p);
    free(v);
}

/* An array or list of min..max strings, each at most CFG_MAX_ARG bytes without control
 * characters, into a NULL-terminated vector: caller owns it, release with strv_free(). */
static int strv_read(struct load *ld, const config_setting_t *s, const char *name, int min, int max,
                     char ***ret)
{
    int type = config_setting_type(s), n = config_setting_length(s), r = 0;
    char ename[CFG_MAX_NAME], buf[GOT_MAX];
    char **v;

    if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST)
        return cfg_fail_at(s, ld->err, -EINVAL,
                           "%s must be an array of strings such as [\"a\", \"b\"] (got %s)", name,
                           cfg_got(s, buf, sizeof(buf)));
    if (n < min || n > max)
        return cfg_fail_at(s, ld->err, -EINVAL, "%s must have %d..%d items (got %d)", name, min,
                           max, n);
    v = xcalloc((size_t)n + 1, sizeof(*v));
    for (int i = 0; i < n && r == 0; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        const char *str;
        size_t len;

        (void)snprintf(ename, sizeof(ename), "%s[%d]", name, i);
        if (config_setting_type(e) != CONFIG_TYPE_STRING) {
            r = cfg_fail_at(e, ld->err, -EINVAL, "%s must be a string (got %s)", ename,
                            cfg_got(e, buf, sizeof(buf)));
            break;
        }
        str = config_setting_get_string(e);
        len = strlen(str);
        if (len > CFG_MAX_ARG)
            r = cfg_fail_at(e, ld->err, -EINVAL, "%s must be at most %d bytes (got %zu bytes)",
                            ename, CFG_MAX_ARG, len);
        for (size_t k = 0; k < len && r == 0; k++)
            if ((unsigned char)str[k] < 0x20 || str[k] == 0x7f)
                r = cfg_fail_at(e, ld->err, -EINVAL,
                                "%s must not contain control characters (got 0x%02x at byte %zu)",
                                ename, (unsigned char)str[k], k);
        if (r == 0)
            v[i] = xstrdup(str);
    }
    if (r < 0) {
        strv_free(v);
        return r;
    }
    *ret = v;
    return 0;
}

/* env, env_pass: ["A=1", "B=2"]. */
static int strings_load(struct load *ld, const config_setting_t *s, const char *name,
                        const struct key *key, void *base)
{
    char ***dst = field(base, key);
    char **v;
    int r;

    r = strv_read(ld, s, name, (int)key->min, (int)key->max, &v);
    if (r < 0)
        return r;
    strv_free(*dst);
    *dst = v;
    return 0;
}

/* command: one argv ["npm", "test"], or a list of them (["npm", "a"], ["npm", "b"]). */
static int argvs_load(struct load *ld, const config_setting_t *s, const char *name,
                      const struct key *key, void *base)
{
    int type = config_setting_type(s), n = config_setting_length(s), r = 0;
    char ename[CFG_MAX_NAME], buf[GOT_MAX];
    char ****dst = field(base, key);
    bool one = false;
    char ***steps;

    if ((type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST) || n == 0)
        return cfg_fail_at(
            s, ld->err, -EINVAL,
            "%s must be an argv array such as [\"npm\", \"test\"] or a list of them "
            "(got %s; for a shell line use `shell`)",
            name, n == 0 && type != CONFIG_TYPE_STRING ? "nothing" : cfg_got(s, buf, sizeof(buf)));
    one = config_setting_type(config_setting_get_elem(s, 0)) == CONFIG_TYPE_STRING;
    if (!one && (double)n > key->max)
        return cfg_fail_at(s, ld->err, -EINVAL, "%s must have at most %.0f steps (got %d)", name,
                           key->max, n);
    steps = xcalloc(one ? 2 : (size_t)n + 1, sizeof(*steps));
    if (one)
        r = strv_read(ld, s, name, 1, CFG_MAX_ARGV, &steps[0]);
    for (int i = 0; !one && i < n && r == 0; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        int etype = config_setting_type(e);

        (void)snprintf(ename, sizeof(ename), "%s[%d]", name, i);
        if (etype != CONFIG_TYPE_ARRAY && etype != CONFIG_TYPE_LIST)
            r = cfg_fail_at(e, ld->err, -EINVAL,
                            "%s must be an argv array such as [\"npm\", \"test\"] "
                            "(got %s)",
                            ename, cfg_got(e, buf, sizeof(buf)));
        else
            r = strv_read(ld, e, ename, 1, CFG_MAX_ARGV, &steps[i]);
    }
    for (size_t i = 0; r == 0 && steps[i]; i++)
        if (!*steps[i][0])
            r = cfg_fail_at(s, ld->err, -EINVAL,
                            "%s: argv[0] of step %zu is empty: it names the "
                            "program to run",
                            name, i + 1);
    if (r < 0) {
        cfg_argvs_free(steps);
        return r;
    }
    cfg_argvs_free(*dst);
    *dst = steps;
    return 0;
}

const config_setting_t *cfg_member_or(const config_setting_t *e, const char *key)
{
    const config_setting_t *m = config_setting_get_member(e, key);

    return m ? m : e;
}

/* A list of named groups (classes, schedules), each read with key->sub and checked. */
static int list_load(struct load *ld, const config_setting_t *s, const char *name,
                     const struct key *key, void *base)
{
    struct cfg *cfg = base; /* lists live in struct cfg itself */
    const struct group_list *gl = key->list;
    int type = config_setting_type(s), n = config_setting_length(s), r = 0;
    char ename[CFG_MAX_NAME], buf[GOT_MAX];

    if (type != CONFIG_TYPE_LIST && type != CONFIG_TYPE_ARRAY)
        return cfg_fail_at(s, ld->err, -EINVAL, "%s must be a list of groups (got %s)", name,
                           cfg_got(s, buf, sizeof(buf)));
    if ((double)n > key->max)
        return cfg_fail_at(s, ld->err, -EINVAL, "%s must have at most %.0f entries (got %d)", name,
                           key->max, n);
    list_clear(key, cfg);
    if (n == 0)
        return 0;
    *list_array(gl, cfg) = xcalloc((size_t)n, gl->size);
    *list_count(gl, cfg) = (size_t)n;
    for (int i = 0; i < n && r == 0; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        char *entry = list_entry(gl, cfg, (size_t)i);

        (void)snprintf(ename, sizeof(ename), "%s[%d]", name, i);
        if (config_setting_type(e) != CONFIG_TYPE_GROUP)
            return cfg_fail_at(e, ld->err, -EINVAL,
                               "%s must be a group { name = \"...\"; ... } (got %s)", ename,
                               cfg_got(e, buf, sizeof(buf)));
        *(int *)(entry + gl->line_at) = (int)config_setting_source_line(e);
        r = entry_load(ld, e, ename, key->sub, key->nsub, entry);
        if (r == 0 && gl->check)
            r = gl->check(ld, e, ename, entry);
        for (int k = 0; k < i && r == 0; k++) {
            const char *other = list_entry(gl, cfg, (size_t)k);
            if (strcmp(*(char *const *)(other + gl->name_at),
                       *(char *const *)(entry + gl->name_at)) == 0)
                r = cfg_fail_at(e, ld->err, -EINVAL, "duplicate %s '%s' in %s (first at line %d)",
                                gl->what, *(char *const *)(entry + gl->name_at), name,
                                *(const int *)(other + gl->line_at));
        }
    }
    return r;
}

/* A KEY_GROUP's settings, read into the same base. */
static int subgroup_load(struct load *ld, const config_setting_t *s, const char *name,
                         const struct key *key, void *base)
{
    return group_load(ld, s, name, key->sub, key->nsub, base);
}

typedef int value_load_fn(struct load *ld, const config_setting_t *s, const char *name,
                          const struct key *key, void *base);

/* How each type of setting is read. */
static value_load_fn *const loaders[] = {
    [KEY_GROUP] = subgroup_load,   [KEY_UINT] = integer_load,   [KEY_INT] = integer_load,
    [KEY_DURATION] = duration_load, [KEY_STRING] = string_load,  [KEY_NAME] = string_load,
    [KEY_ENUM] = enum_load,         [KEY_BOOL] = bool_load,      [KEY_QUEUES] = queues_load,
    [KEY_LIST] = list_load,         [KEY_STRINGS] = strings_load, [KEY_ARGVS] = argvs_load,
};

static int value_load(struct load *ld, const config_setting_t *s, const char *name,
                      const struct key *key, void *base)
{
    assert((size_t)key->type < NELEMS(loaders) && loaders[key->type]);
    return loaders[key->type](ld, s, name, key, base);
}

/* "FILE:LINE" of `name` in *ret (owned), for the messages of cfg_load_secrets(); NULL when
 * the file does not set it. */
static void setting_where(config_t *lc, const char *name, char **ret)
{
    const config_setting_t *s = config_lookup(lc, name);

    if (s)
        *ret = xasprintf("%s:%u", config_setting_source_file(s),
                         (unsigned)config_setting_source_line(s));
}

/* As setting_where(), into `buf`; left as it is when the file does not set `name`. */
static void setting_at(config_t *lc, const char *name, char *buf, size_t size)
{
    const config_setting_t *s = config_lookup(lc, name);

    if (s)
        (void)snprintf(buf, size, "%s:%u", config_setting_source_file(s),
                       (unsigned)config_setting_source_line(s));
}

static int file_load(struct load *ld, const char *path)
{
    const char *file;
    config_t lc;
    int ok, errnum, r;

    config_init(&lc);
    errno = 0;
    ok = config_read_file(&lc, path);
    errnum = errno > 0 ? errno : EIO;
    file = config_error_file(&lc) ? config_error_file(&lc) : path;
    if (!ok && config_error_type(&lc) == CONFIG_ERR_FILE_IO) {
        r = err_set(ld->err, -errnum, "cannot read %s: %s", path, strerror(errnum));
        goto out;
    }
    if (!ok) {
        r = err_set(ld->err, -EINVAL, "%s:%d: syntax error (%s)", file, config_error_line(&lc),
                    config_error_text(&lc));
        goto out;
    }
    r = group_load(ld, config_root_setting(&lc), "", cfg_root_keys, cfg_nroot_keys, ld->cfg);
    if (r < 0)
        goto out;
    setting_where(&lc, "http.token_file", &ld->cfg->http_token_where);
    setting_where(&lc, "emotion.token_file", &ld->cfg->emotion_token_where);
    setting_where(&lc, "smtp.password_file", &ld->cfg->smtp_password_where);
    setting_where(&lc, "redis.sentinel_password_file", &ld->cfg->redis_sentinel_password_where);
    setting_at(&lc, "redis.url", ld->url_where, sizeof(ld->url_where));
    setting_at(&lc, "smtp.starttls", ld->starttls_where, sizeof(ld->starttls_where));
    r = cfg_rules_file(ld, &lc);
out:
    config_destroy(&lc);
    return r;
}

/* REDIS_URL, DATABASE_URL, DATABASE_POOL_URL and SMTP_URL, when set and not empty (or given as systemd
 * credentials), win over the file. */
static int env_apply(struct load *ld, cfg_getenv_fn *get_env)
{
    int r;

    if (!get_env)
        return 0;
    for (size_t i = 0; i < cfg_nenv_vars; i++) {
        const struct cfg_env_var *var = &cfg_env_vars[i];
        char *v = NULL;

        r = secret_env(get_env, var->name, &v, ld->err); /* or systemd's credential */
        if (r < 0)
            return r;
        if (!v)
            continue;
        string_set(var->key, v, ld->cfg);
        secret_free(v);
        if (strcmp(var->name, "REDIS_URL") == 0)
            (void)snprintf(ld->url_where, sizeof(ld->url_where), "%s", var->name);
        if (strcmp(var->name, "SMTP_URL") == 0)
            ld->smtp_url_env = true;
    }
    return 0;
}

const char *cfg_url_show(const char *url, char *buf, size_t size)
{
    char masked[GOT_MAX];

    return cfg_quote(url_mask(url, masked, sizeof(masked)), buf, size);
}

int cfg_load(const char *path, cfg_getenv_fn *get_env, struct cfg **ret_cfg, struct err *err)
{
    struct load ld = {.err = err};
    int r = 0;

    ld.cfg = xcalloc(1, sizeof(*ld.cfg));
    ld.cfg->refs = 1;
    defaults_apply(cfg_root_keys, cfg_nroot_keys, ld.cfg);
    if (path) {
        ld.cfg->path = xstrdup(path);
        r = file_load(&ld, path);
    }
    if (r == 0)
        r = env_apply(&ld, get_env);
    if (r == 0)
        r = cfg_rules_final(&ld, get_env);
    if (r < 0) {
        cfg_free(ld.cfg);
        return r;
    }
    if (!*ld.cfg->database_url) {
        free(ld.cfg->database_url);
        ld.cfg->database_url = NULL;
    }
    if (!*ld.cfg->database_pool_url) {
        free(ld.cfg->database_pool_url);
        ld.cfg->database_pool_url = NULL;
    }
    *ret_cfg = ld.cfg;
    return 0;
}

const struct cfg *cfg_ref(const struct cfg *cfg)
{
    if (cfg)
        ((struct cfg *)cfg)->refs++; /* the count is no part of what the holders read */
    return cfg;
}

void cfg_free(const struct cfg *cfg)
{
    struct cfg *c = (struct cfg *)cfg;

    if (!c)
        return;
    assert(c->refs > 0);
    if (--c->refs > 0)
        return;
    free(c->http_token_where);
    free(c->emotion_token_where);
    secret_free(c->http_token);
    secret_free(c->emotion_token);
    keys_free(cfg_root_keys, cfg_nroot_keys, c);
    secret_free(c->smtp_password);
    free(c->smtp_password_where);
    secret_free(c->redis_sentinel_password);
    free(c->redis_sentinel_password_where);
    mail_tmpl_set_free(c->smtp_tmpls);
    free(c->path);
    free(c);
}

/* Whether `key` holds the same value in `a` and `b`. */
static bool key_equal(const struct key *key, const void *a, const void *b)
{
    const void *fa = (const char *)a + key->offset, *fb = (const char *)b + key->offset;
    const char *const *sa, *const *sb;

    switch (key->type) {
    case KEY_UINT:
        return *(const unsigned *)fa == *(const unsigned *)fb;
    case KEY_INT:
    case KEY_ENUM:
        return *(const int *)fa == *(const int *)fb;
    case KEY_DURATION:
        return *(const double *)fa == *(const double *)fb;
    case KEY_BOOL:
        return *(const bool *)fa == *(const bool *)fb;
    case KEY_STRING:
    case KEY_NAME:
        sa = fa, sb = fb; /* NULL equals NULL only (database.url when empty) */
        return *sa && *sb ? strcmp(*sa, *sb) == 0 : *sa == *sb;
    case KEY_STRINGS:
        sa = *(const char *const *const *)fa, sb = *(const char *const *const *)fb;
        for (; sa && sb && *sa && *sb; sa++, sb++)
            if (strcmp(*sa, *sb) != 0)
                return false;
        return (!sa || !*sa) && (!sb || !*sb);
    default:
        assert(!"a restart-only setting of a type without a comparison");
        return false;
    }
}

int cfg_restart_changes(const struct cfg *old, const struct cfg *new, const char *section,
                        struct err *err)
{
    for (size_t i = 0; i < cfg_nroot_keys; i++) {
        const struct key *group = &cfg_root_keys[i];

        if (group->type != KEY_GROUP || (section && strcmp(section, group->name) != 0))
            continue;
        for (size_t k = 0; k < group->nsub; k++) {
            const struct key *key = &group->sub[k];

            if ((key->flags & KEY_RESTART) && !key_equal(key, old, new))
                return err_set(err, -EINVAL, "%s.%s changed: restart nexusd to apply it",
                               group->name, key->name);
        }
    }
    return 0;
}

const struct cfg_schedule *cfg_schedule_find(const struct cfg *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->nschedules; i++)
        if (strcmp(cfg->schedules[i].name, name) == 0)
            return &cfg->schedules[i];
    return NULL;
}

const char *cfg_class_queue(const struct cfg *cfg, const char *class_name)
{
    const struct cfg_class *c = cfg ? cfg_class_find(cfg, class_name) : NULL;

    return c && c->queue ? c->queue : "default";
}

const struct cfg_class *cfg_class_find(const struct cfg *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->nclasses; i++)
        if (strcmp(cfg->classes[i].name, name) == 0)
            return &cfg->classes[i];
    return NULL;
}
