/* command_output.c - a command step's output: two tails and the parser's copy of stdout. */
#include "jobs/command_output.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/tail.h"
#include "lib/strbuf.h"
#include "lib/xalloc.h"

struct command_output {
    struct tail *all;  /* stdout and stderr, in arrival order */
    struct tail *err;  /* stderr only, for the message */
    bool keep_stdout;  /* for a parser */
    struct strbuf out; /* stdout; at most COMMAND_PARSE_MAX bytes */
    bool stdout_over;  /* more than COMMAND_PARSE_MAX: not kept */
};

struct command_output *command_output_new(size_t limit, bool keep_stdout)
{
    struct command_output *o = xcalloc(1, sizeof(*o));

    o->all = tail_new(limit);
    o->err = tail_new(COMMAND_STDERR_KEEP);
    o->keep_stdout = keep_stdout;
    return o;
}

void command_output_free(struct command_output *o)
{
    if (!o)
        return;
    tail_free(o->all);
    tail_free(o->err);
    free(o->out.p);
    free(o);
}

void command_output_clear(struct command_output *o)
{
    tail_clear(o->all);
    tail_clear(o->err);
    o->out.len = 0;
    if (o->out.p)
        o->out.p[0] = '\0';
    o->stdout_over = false;
}

static void stdout_keep(struct command_output *o, const char *data, size_t n)
{
    if (o->stdout_over)
        return;
    if (o->out.len + n > COMMAND_PARSE_MAX) {
        o->stdout_over = true;
        return;
    }
    strbuf_add(&o->out, data, n);
}

void command_output_write(struct command_output *o, const char *data, size_t len, bool is_err)
{
    tail_write(o->all, data, len);
    if (is_err)
        tail_write(o->err, data, len);
    else if (o->keep_stdout)
        stdout_keep(o, data, len);
}

size_t command_output_len(const struct command_output *o)
{
    return tail_len(o->all);
}

unsigned long long command_output_dropped(const struct command_output *o)
{
    return tail_dropped(o->all);
}

char *command_output_text(const struct command_output *o)
{
    unsigned long long dropped = tail_dropped(o->all);
    size_t len;
    char *text = tail_text(o->all, &len), *out;

    if (dropped == 0)
        return text;
    out = xasprintf("[nexusd: %llu earlier bytes dropped]\n%s", dropped, text);
    free(text);
    return out;
}

void command_output_quote(const struct command_output *o, char *buf, size_t size)
{
    const struct tail *t = tail_len(o->err) ? o->err : o->all;
    char *text = tail_text(t, NULL);
    const char *last;
    size_t len;

    buf[0] = '\0';
    last = tail_last_lines(text, strlen(text), COMMAND_MESSAGE_LINES, COMMAND_MESSAGE_BYTES, &len);
    if (len)
        (void)snprintf(buf, size, ": %.*s", (int)len, last);
    free(text);
}

const char *command_output_stdout(const struct command_output *o, size_t *ret_len)
{
    if (o->stdout_over)
        return NULL;
    *ret_len = o->out.len;
    return o->out.p ? o->out.p : "";
}
