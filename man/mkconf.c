/* mkconf.c - writes nexusd.conf(5) at build time: the table of settings (conf/cfg_doc.c)
 * described by the reference file's comments. Not installed.
 *
 *   mkconf REFERENCE.conf VERSION DATE OUT.5 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/cfg_doc.h"

/* The whole file as a string; NULL with errno set. Caller owns it, release with free(). */
static char *file_read(const char *path)
{
    FILE *f = fopen(path, "re");
    char *text = NULL;
    size_t size = 0;
    int saved;

    if (!f)
        return NULL;
    FILE *mem = open_memstream(&text, &size);
    if (mem) {
        char buf[8192];
        size_t n;

        while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
            (void)fwrite(buf, 1, n, mem);
        if (ferror(f)) {
            saved = errno;
            (void)fclose(mem);
            free(text);
            text = NULL;
            errno = saved;
        } else if (fclose(mem) != 0) {
            free(text);
            text = NULL;
        }
    }
    saved = errno;
    (void)fclose(f);
    errno = saved;
    return text;
}

int main(int argc, char **argv)
{
    char *reference;
    FILE *out;
    int r;

    if (argc != 5) {
        fputs("usage: mkconf REFERENCE.conf VERSION DATE OUT.5\n", stderr);
        return 2;
    }
    reference = file_read(argv[1]);
    if (!reference) {
        fprintf(stderr, "mkconf: cannot read %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    out = fopen(argv[4], "we");
    if (!out) {
        fprintf(stderr, "mkconf: cannot write %s: %s\n", argv[4], strerror(errno));
        free(reference);
        return 1;
    }
    r = cfg_doc_write(out, reference, argv[2], argv[3]);
    if (fclose(out) != 0 || r < 0) {
        fprintf(stderr, "mkconf: cannot write %s\n", argv[4]);
        (void)remove(argv[4]);
        r = -EIO;
    }
    free(reference);
    return r < 0 ? 1 : 0;
}
