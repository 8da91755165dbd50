/* ctl_table.h - nexusctl's aligned text tables. */
#ifndef CTL_TABLE_H
#define CTL_TABLE_H

#include <stddef.h>
#include <stdio.h>

struct ctl_table; /* opaque */

/* A table of `ncols` columns under `headers` (copied); bit i of `right` aligns column i
 * to the right (numbers). Caller owns it, release with ctl_table_free(). */
struct ctl_table *ctl_table_new(size_t ncols, const char *const *headers, unsigned right);
void ctl_table_free(struct ctl_table *t);
/* Adds a row of ncols cells, copied onto one line each (see ctl_fmt_line()); NULL cells
 * print as "-". */
void ctl_table_add(struct ctl_table *t, const char *const *cells);
size_t ctl_table_rows(const struct ctl_table *t);
/* Prints the headers and rows, columns two spaces apart. */
void ctl_table_print(const struct ctl_table *t, FILE *out);

#endif
