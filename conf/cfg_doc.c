/* cfg_doc.c - nexusd.conf(5) from the table of settings: type, range and default from the
 * rows themselves, words from the comments of the reference file (conf/nexusd.conf). */
#include "conf/cfg_doc.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "conf/cfg_int.h"
#include "lib/strbuf.h"
#include "lib/xalloc.h"

#define DOC_MAX 1024 /* described settings of the reference file */

/* What the reference file says of one setting: "redis.url", "classes.timeout". */
struct doc {
    char *key;  /* owned */
    char *text; /* owned; lines of words, no comment marks */
};

struct docs {
    struct doc v[DOC_MAX];
    size_t n;
};

static void docs_add(struct docs *d, char *key, const char *text)
{
    if (d->n == DOC_MAX) {
        free(key);
        return;
    }
    d->v[d->n].key = key;
    d->v[d->n].text = xstrdup(text ? text : "");
    d->n++;
}

static void docs_clear(struct docs *d, size_t from)
{
    for (size_t i = from; i < d->n; i++) {
        free(d->v[i].key);
        free(d->v[i].text);
    }
    d->n = from;
}

static const char *docs_find(const struct docs *d, const char *key)
{
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->v[i].key, key) == 0)
            return d->v[i].text;
    return NULL;
}

static void text_add(struct strbuf *b, const char *line, size_t len)
{
    if (b->len)
        strbuf_add(b, "\n", 1);
    strbuf_add(b, line, len);
}

static void text_reset(struct strbuf *b)
{
    free(b->p);
    *b = (struct strbuf){0};
}

/* The length of the lowercase word at `s` (a-z, 0-9, _), 0 when there is none. */
static size_t word_len(const char *s)
{
    size_t n = 0;

    while (islower((unsigned char)s[n]) || isdigit((unsigned char)s[n]) || s[n] == '_')
        n++;
    return n;
}

/* "name = value;" (a setting, also when commented out): the name's length, else 0. */
static size_t setting_len(const char *s, size_t len)
{
    size_t n = word_len(s);

    if (!n || strncmp(s + n, " = ", 3) != 0)
        return 0;
    while (len > 0 && isspace((unsigned char)s[len - 1]))
        len--;
    return len > 0 && s[len - 1] == ';' ? n : 0;
}

/* Reading the reference file: inside a group ("redis = {"), the comment lines above a
 * setting describe it (a setting right after another shares its words); above a list
 * ("classes = ("), rows "#   name   words" (continued on lines indented further) describe
 * the entries' keys. */
struct reader {
    struct docs *docs;
    char group[CFG_MAX_NAME]; /* "" at the top level */
    struct strbuf pending;    /* words not yet given to a setting */
    const char *last;         /* the previous setting's words, borrowed from docs */
    size_t rows_from;         /* docs from here on are rows waiting for their list */
    long row;                 /* the row continued lines go to; -1 for none */
};

static void reader_setting(struct reader *rd, const char *name, size_t len)
{
    char *key = xasprintf("%s.%.*s", rd->group, (int)len, name);

    if (rd->pending.len) {
        docs_add(rd->docs, key, rd->pending.p);
        rd->last = rd->docs->n ? rd->docs->v[rd->docs->n - 1].text : NULL;
    } else {
        docs_add(rd->docs, key, rd->last);
    }
    text_reset(&rd->pending);
}

static void reader_group_line(struct reader *rd, const char *s, size_t len)
{
    size_t n;

    while (len && isspace((unsigned char)*s))
        s++, len--;
    if (len >= 2 && strncmp(s, "};", 2) == 0) {
        rd->group[0] = '\0';
        text_reset(&rd->pending);
        rd->last = NULL;
        rd->rows_from = rd->docs->n;
        return;
    }
    if (len && *s == '#') {
        s++, len--;
        if (len && *s == ' ')
            s++, len--;
        if ((n = setting_len(s, len)) == 0) {
            if (len)
                text_add(&rd->pending, s, len);
            return;
        }
    } else if ((n = setting_len(s, len)) == 0) {
        return;
    }
    reader_setting(rd, s, n);
}

/* A top-level line: a group or list opening, or the comments above one. */
static void reader_top_line(struct reader *rd, const char *s, size_t len)
{
    size_t n = word_len(s);

    if (n && len >= n + 4 && strncmp(s + n, " = {", 4) == 0) {
        (void)snprintf(rd->group, sizeof(rd->group), "%.*s", (int)n, s);
        text_reset(&rd->pending);
        docs_clear(rd->docs, rd->rows_from);
        rd->row = -1;
        return;
    }
    if (n && len >= n + 4 && strncmp(s + n, " = (", 4) == 0) {
        for (size_t i = rd->rows_from; i < rd->docs->n; i++) {
            char *key = xasprintf("%.*s.%s", (int)n, s, rd->docs->v[i].key);

            free(rd->docs->v[i].key);
            rd->docs->v[i].key = key;
        }
        docs_add(rd->docs, xasprintf("%.*s", (int)n, s), rd->pending.p);
        rd->rows_from = rd->docs->n;
        goto reset;
    }
    if (len >= 5 && strncmp(s, "#    ", 5) == 0) { /* a row's next line */
        if (rd->row >= 0) {
            struct doc *doc = &rd->docs->v[rd->row];
            char *text;

            while (len && isspace((unsigned char)s[1]))
                s++, len--;
            text = xasprintf("%s\n%.*s", doc->text, (int)len - 1, s + 1);
            free(doc->text);
            doc->text = text;
        }
        return;
    }
    if (len >= 4 && strncmp(s, "#   ", 4) == 0 && (n = word_len(s + 4)) > 0) { /* a row */
        const char *words = s + 4 + n;

        while (*words == ' ')
            words++;
        rd->row = -1;
        if (*words == '=' || words == s + 4 + n)
            return;
        docs_add(rd->docs, xasprintf("%.*s", (int)n, s + 4), "");
        free(rd->docs->v[rd->docs->n - 1].text);
        rd->docs->v[rd->docs->n - 1].text = xstrndup(words, len - (size_t)(words - s));
        rd->row = (long)rd->docs->n - 1;
        return;
    }
    if (len >= 1 && *s == '#') {
        rd->row = -1;
        if (rd->docs->n == rd->rows_from && len > 2)
            text_add(&rd->pending, s + 2, len - 2);
        return;
    }
reset: /* anything else ends the comments above a list */
    text_reset(&rd->pending);
    docs_clear(rd->docs, rd->rows_from);
    rd->rows_from = rd->docs->n;
    rd->row = -1;
}

static void docs_read(struct docs *docs, const char *text)
{
    struct reader rd = {.docs = docs, .row = -1};

    while (text && *text) {
        const char *end = strchr(text, '\n');
        size_t len = end ? (size_t)(end - text) : strlen(text);

        if (rd.group[0])
            reader_group_line(&rd, text, len);
        else
            reader_top_line(&rd, text, len);
        text = end ? end + 1 : text + len;
    }
    docs_clear(docs, rd.rows_from);
    text_reset(&rd.pending);
}

/* Text lines for roff: a backslash is written \e, a line never starts with a control
 * character. */
static void put_text(FILE *out, const char *text)
{
    bool bol = true;

    for (const char *p = text; *p; p++) {
        if (bol && (*p == '.' || *p == '\''))
            fputs("\\&", out);
        if (*p == '\\') {
            fputs("\\e", out);
        } else if (*p == ' ' && p > text && strchr(".?!", p[-1]) && p[1] && p[1] != ' ' &&
                   p[1] != '\n') {
            fputc('\n', out); /* mdoc: a new sentence starts a new line */
            bol = true;
            continue;
        } else {
            fputc(*p, out);
        }
        bol = *p == '\n';
    }
    if (!bol)
        fputc('\n', out);
}

/* A string value in double quotes, for a text line. */
static void put_quoted(FILE *out, const char *s)
{
    fputs("\\(dq", out);
    for (; *s; s++) {
        if (*s == '\\')
            fputs("\\e", out);
        else
            fputc(*s, out);
    }
    fputs("\\(dq", out);
}

static const char *env_of(const struct key *key)
{
    for (size_t i = 0; i < cfg_nenv_vars; i++)
        if (cfg_env_vars[i].key == key)
            return cfg_env_vars[i].name;
    return NULL;
}

static void put_number_default(FILE *out, const struct key *key)
{
    char buf[32];

    if (key->def == INHERIT)
        fputs("default: the worker's.\n", out);
    else if (key->type == KEY_DURATION)
        fprintf(out, "default %s.\n",
                key->def == 0 ? "0" : cfg_duration_fmt(key->def, buf, sizeof(buf)));
    else
        fprintf(out, "default %.0f.\n", key->def);
}

static void put_string_default(FILE *out, const struct key *key)
{
    if (!key->def_str) {
        fputs("no default.\n", out);
        return;
    }
    fputs("default ", out);
    put_quoted(out, key->def_str);
    fputs(".\n", out);
}

/* The line on what a setting may hold and holds by default. */
static void put_kind(FILE *out, const struct key *key)
{
    char buf[80];

    switch (key->type) {
    case KEY_UINT:
    case KEY_INT:
        fprintf(out, "An integer, %s;\n", cfg_range_fmt(key, buf, sizeof(buf)));
        put_number_default(out, key);
        break;
    case KEY_DURATION:
        fprintf(out, "A duration, %s;\n", cfg_range_fmt(key, buf, sizeof(buf)));
        put_number_default(out, key);
        break;
    case KEY_STRING:
    case KEY_NAME:
        fprintf(out, "A string of %s%s;\n", cfg_bytes_fmt(key, buf, sizeof(buf)),
                key->type == KEY_NAME ? ", no spaces" : "");
        put_string_default(out, key);
        break;
    case KEY_ENUM:
        fputs("One of", out);
        for (size_t i = 0; i < key->words->n; i++)
            fprintf(out, "%s %s", i ? (i + 1 == key->words->n ? " or" : ",") : "",
                    key->words->names[i]);
        fputs(";\n", out);
        put_string_default(out, key);
        break;
    case KEY_BOOL:
        fprintf(out, "true or false; default %s.\n", key->def ? "true" : "false");
        break;
    case KEY_QUEUES:
        fprintf(out, "A list of %.0f..%.0f queues, each a name or a group of", key->min, key->max);
        for (size_t i = 0; i < key->nsub; i++)
            fprintf(out, "%s %s", i ? " and" : "", key->sub[i].name);
        fputs(";\n", out);
        put_string_default(out, key);
        break;
    case KEY_STRINGS:
        fprintf(out, "A list of at most %.0f strings; default empty.\n", key->max);
        break;
    case KEY_ARGVS:
        fprintf(out, "One argv (an array of strings) or a list of %.0f..%.0f of them.\n", key->min,
                key->max);
        break;
    case KEY_GROUP:
    case KEY_LIST:
        break;
    }
}

static void put_setting(FILE *out, const struct docs *docs, const char *group,
                        const struct key *key)
{
    char name[CFG_MAX_NAME];
    const char *env = env_of(key), *text;

    (void)snprintf(name, sizeof(name), "%s.%s", group, key->name);
    fprintf(out, ".It Cm %s\n", name);
    put_kind(out, key);
    if (env)
        fprintf(out, "The environment variable\n.Ev %s ,\nwhen set and not empty, wins.\n", env);
    if (key->flags & KEY_RESTART)
        fputs("Read at start-up only: a reload that changes it is refused.\n", out);
    text = docs_find(docs, name);
    if (text && *text) {
        fputs(".Pp\n", out);
        put_text(out, text);
    }
}

static void put_group(FILE *out, const struct docs *docs, const struct key *group)
{
    const char *text = docs_find(docs, group->name);

    fprintf(out, ".Ss %s\n", group->name);
    if (group->type == KEY_LIST) {
        fprintf(out,
                "A list of at most %.0f entries, each a group of the settings below\n"
                "(their names are the entries' keys, without\n.Ql %s. ) .\n",
                group->max, group->name);
        if (text && *text)
            put_text(out, text);
    }
    fputs(".Bl -tag -width Ds\n", out);
    for (size_t i = 0; i < group->nsub; i++)
        put_setting(out, docs, group->name, &group->sub[i]);
    fputs(".El\n", out);
}

static const char intro[] =
    ".Sh NAME\n"
    ".Nm nexusd.conf\n"
    ".Nd configuration file of nexusd\n"
    ".Sh DESCRIPTION\n"
    ".Xr nexusd 8\n"
    "reads the file that its\n"
    ".Fl c\n"
    "option names, written in libconfig's syntax: groups of settings and lists of groups,\n"
    "as in\n"
    ".Bd -literal -offset indent\n"
    "redis = {\n"
    "  url = \\(dqredis://10.0.0.5:6379/0\\(dq;\n"
    "};\n"
    "classes = (\n"
    "  { name = \\(dqemail.welcome\\(dq; timeout = \\(dq2m\\(dq; }\n"
    ");\n"
    ".Ed\n"
    ".Pp\n"
    "Every setting has a default; a setting the file does not know is an error, so a typo\n"
    "stops the daemon instead of being ignored.\n"
    "Durations are seconds (an integer or a number such as 2.5) or a string with a unit:\n"
    ".Ql 250ms ,\n"
    ".Ql 30s ,\n"
    ".Ql 5m ,\n"
    ".Ql 2h ,\n"
    ".Ql 1d .\n"
    ".Pp\n"
    "The file is read at start-up and again on\n"
    ".Dv SIGHUP ;\n"
    "a reload that changes a setting read at start-up only is refused as a whole.\n"
    ".Ql nexusd -t -c FILE\n"
    "checks a file and prints a summary.\n"
    ".Pp\n"
    "Secrets never sit in this file: they come from the environment, from files the\n"
    "settings name, or from systemd credentials (see\n"
    ".Xr nexusd 8 ) .\n";

static const char outro[] =
    ".Sh FILES\n"
    ".Bl -tag -width Ds\n"
    ".It Pa /etc/nexusd/nexusd.conf\n"
    "the file the systemd unit starts nexusd with; its comments say what this page does.\n"
    ".El\n"
    ".Sh SEE ALSO\n"
    ".Xr nexusctl 1 ,\n"
    ".Xr nexusd 8\n";

int cfg_doc_write(FILE *out, const char *reference, const char *version, const char *date)
{
    struct docs *docs = xcalloc(1, sizeof(*docs));

    docs_read(docs, reference);
    fputs(".\\\" nexusd.conf.5 - generated from conf/cfg_keys.c and conf/nexusd.conf by\n"
          ".\\\" man/mkconf.c at build time: edit those, not this.\n",
          out);
    fprintf(out, ".Dd %s\n.Dt NEXUSD.CONF 5\n.Os nexusd %s\n", date, version);
    fputs(intro, out);
    fputs(".Sh SETTINGS\n", out);
    for (size_t i = 0; i < cfg_nroot_keys; i++)
        put_group(out, docs, &cfg_root_keys[i]);
    fputs(outro, out);
    docs_clear(docs, 0);
    free(docs);
    return ferror(out) ? -EIO : 0;
}
