/* command_output.c - a command step's output: two tails and the parser's copy of stdout. */
#include "jobs/command_output.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/tail.h"
#include "lib/xalloc.h"

#define STDOUT_CHUNK 65536 /* the parser's buffer starts this large and doubles */

struct command_output {
    struct tail *all; /* stdout and stderr, in arrival order */
    struct tail *err; /* stderr only, for the message */
    bool keep_stdout; /* for a parser */
    char *stdout_buf; /* NUL-terminated; at most COMMAND_PARSE_MAX bytes */
    size_t stdout_len, stdout_cap;
    bool stdout_over; /* more than COMMAND_PARSE_MAX: not kept */
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
    free(o->stdout_buf);
    free(o);
}

void command_output_clear(struct command_output *o)
{
    tail_clear(o->all);
    tail_clear(o->err);
    o->stdout_len = 0;
    o->stdout_over = false;
}

static void stdout_keep(struct command_output *o, const char *data, size_t n)
{
    if (o->stdout_over)
        return;
    if (o->stdout_len + n > COMMAND_PARSE_MAX) {
        o->stdout_over = true;
        return;
    }
    if (o->stdout_len + n + 1 > o->stdout_cap) {
        size_t cap = o->stdout_cap ? o->stdout_cap : STDOUT_CHUNK;

        while (cap < o->stdout_len + n + 1)
            cap *= 2;
        o->stdout_buf = xreallocarray(o->stdout_buf, cap, 1);
        o->stdout_cap = cap;
    }
    memcpy(o->stdout_buf + o->stdout_len, data, n);
    o->stdout_len += n;
    o->stdout_buf[o->stdout_len] = '\0';
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
    *ret_len = o->stdout_len;
    return o->stdout_buf ? o->stdout_buf : "";
}
