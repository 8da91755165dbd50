/* ctl_table.c - aligned text tables. */
#include "ctl/ctl_table.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl_fmt.h"
#include "lib/xalloc.h"

struct ctl_table {
    size_t ncols;
    unsigned right;  /* bit i: column i aligned right */
    char **cells;    /* owned; (nrows + 1) * ncols, the headers first */
    size_t nrows;    /* rows below the headers */
    size_t cap_rows; /* room in `cells`, headers included */
};

/* Characters (UTF-8) shown for `s`. */
static size_t text_width(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

/* Copies one row into the next free slot, growing the table. */
static void row_put(struct ctl_table *t, const char *const *cells)
{
    size_t used = t->cells ? t->nrows + 1 : 0;
    char **row;

    if (used == t->cap_rows) {
        t->cap_rows = t->cap_rows ? t->cap_rows * 2 : 16;
        t->cells = xreallocarray(t->cells, t->cap_rows * t->ncols, sizeof(*t->cells));
    }
    row = t->cells + used * t->ncols;
    for (size_t c = 0; c < t->ncols; c++)
        row[c] = ctl_fmt_line(cells[c] ? cells[c] : "-", (size_t)-1);
}

struct ctl_table *ctl_table_new(size_t ncols, const char *const *headers, unsigned right)
{
    struct ctl_table *t = xcalloc(1, sizeof(*t));

    t->ncols = ncols;
    t->right = right;
    row_put(t, headers);
    return t;
}

void ctl_table_free(struct ctl_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < (t->nrows + 1) * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t);
}

void ctl_table_add(struct ctl_table *t, const char *const *cells)
{
    row_put(t, cells);
    t->nrows++;
}

size_t ctl_table_rows(const struct ctl_table *t)
{
    return t->nrows;
}

/* Spaces owed before the next text: padding is written only when text follows it, so that
 * no line ends in spaces. */
static void text_put(FILE *out, size_t *pending, const char *s)
{
    if (!*s)
        return;
    (void)fprintf(out, "%*s%s", (int)*pending, "", s);
    *pending = 0;
}

void ctl_table_print(const struct ctl_table *t, FILE *out)
{
    size_t *width = xcalloc(t->ncols, sizeof(*width)), pending;

    for (size_t i = 0; i < (t->nrows + 1) * t->ncols; i++) {
        size_t w = text_width(t->cells[i]);

        if (w > width[i % t->ncols])
            width[i % t->ncols] = w;
    }
    for (size_t r = 0; r <= t->nrows; r++) {
        pending = 0;
        for (size_t c = 0; c < t->ncols; c++) {
            const char *cell = t->cells[r * t->ncols + c];
            size_t pad = width[c] - text_width(cell);

            if (c > 0)
                pending += 2;
            if (t->right & (1u << c))
                pending += pad;
            text_put(out, &pending, cell);
            if (!(t->right & (1u << c)))
                pending += pad;
        }
        (void)fputc('\n', out);
    }
    free(width);
}
