/* mail_tmpl.h - email templates: <name>.subject, <name>.txt and <name>.html files read
 * from one directory when the configuration loads, and {{name}} placeholders filled from a
 * JSON object (rendering is pure). */
#ifndef MAIL_TMPL_H
#define MAIL_TMPL_H

#include <stddef.h>

struct err;
typedef struct json_t json_t;

#define MAIL_TMPL_MAX 1000             /* templates in one directory */
#define MAIL_TMPL_MAX_FILE (256 << 10) /* bytes of one template file */
#define MAIL_TMPL_MAX_NAME 64          /* bytes of a template's name: [a-z0-9_-] */
#define MAIL_TMPL_MAX_OUT (1 << 20)    /* bytes of one rendered part */

/* One template; strings borrowed from its set. */
struct mail_tmpl {
    const char *name;
    const char *subject; /* one line, the file's trailing newline removed */
    const char *text;    /* NULL when there is no <name>.txt */
    const char *html;    /* NULL when there is no <name>.html; at least one of both */
};

struct mail_tmpl_set; /* opaque */

/* Reads every <name>.subject of `dir` with its <name>.txt and/or <name>.html (other files
 * are ignored). Blocking file I/O: for start-up and reload only, never from a job. On
 * success writes *ret_set: caller owns it, release with mail_tmpl_set_free() (accepts
 * NULL). Fails with -ENOENT when `dir` cannot be opened, -EINVAL for a bad template (a
 * subject with no body, a file over MAIL_TMPL_MAX_FILE, not UTF-8, a subject of more than
 * one line, a placeholder that does not close), with a sentence naming the file. */
int mail_tmpl_set_load(const char *dir, struct mail_tmpl_set **ret_set, struct err *err);
void mail_tmpl_set_free(struct mail_tmpl_set *set);
/* The template called `name`, or NULL. Borrowed, valid until mail_tmpl_set_free(). */
const struct mail_tmpl *mail_tmpl_find(const struct mail_tmpl_set *set, const char *name);
size_t mail_tmpl_count(const struct mail_tmpl_set *set);

enum mail_tmpl_mode {
    MAIL_TMPL_RAW,  /* values as they are: the subject and the text part */
    MAIL_TMPL_HTML, /* values HTML-escaped (& < > " '): the HTML part */
};

/* Fills `tmpl`'s placeholders: {{ key }} or {{ key.sub }} (letters, digits, '_', '.'),
 * spaces inside the braces allowed, looked up in `vars` (an object; dots go into nested
 * objects). Strings go in as they are (escaped in HTML mode), numbers in decimal, true and
 * false as words, null as nothing. `what` names the template part in messages
 * ("welcome.html"). On success writes *ret (caller owns it, release with free()); on
 * failure returns -EINVAL with a sentence in `err`, e.g. "welcome.html:3: no value for
 * {{name}}". */
int mail_tmpl_render(const char *tmpl, const char *what, const json_t *vars,
                     enum mail_tmpl_mode mode, char **ret, struct err *err);

#endif
