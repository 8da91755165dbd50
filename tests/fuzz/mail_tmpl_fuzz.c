/* mail_tmpl_fuzz.c - libFuzzer target: any bytes as a template rendered in HTML mode with a
 * value full of markup; the value must never appear unescaped. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lib/err.h"
#include "lib/mail_tmpl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *tmpl = malloc(size + 1), *out = NULL;
    json_t *vars = json_pack("{s:s, s:{s:i}}", "v", "<i>\"'&", "o", "n", 7);
    struct err err = {0};

    if (!tmpl || !vars) {
        free(tmpl);
        json_decref(vars);
        return 0;
    }
    memcpy(tmpl, data, size);
    tmpl[size] = '\0';
    if (mail_tmpl_render(tmpl, "fuzz", vars, MAIL_TMPL_HTML, &out, &err) == 0) {
        if (!strstr(tmpl, "<i>") && strstr(out, "<i>")) {
            (void)fprintf(stderr, "mail_tmpl_fuzz: a value came out unescaped\n");
            abort();
        }
        free(out);
    } else if (err.msg[0] == '\0') {
        (void)fprintf(stderr, "mail_tmpl_fuzz: failure without a sentence\n");
        abort();
    }
    free(tmpl);
    json_decref(vars);
    return 0;
}
