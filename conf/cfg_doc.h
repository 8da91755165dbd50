/* cfg_doc.h - the table of settings as the manual page nexusd.conf(5), in mdoc. */
#ifndef CFG_DOC_H
#define CFG_DOC_H

#include <stdio.h>

/* Writes the page to `out`: every setting of the table (conf/cfg_keys.c) with its type,
 * range, default, environment variable and whether a reload changes it, described by the
 * comment above it in `reference` (the text of conf/nexusd.conf, borrowed; NULL for no
 * descriptions). `version` and `date` (borrowed) go into the page's header and footer.
 * Returns 0, or -EIO when `out` failed. */
int cfg_doc_write(FILE *out, const char *reference, const char *version, const char *date);

#endif
