/* mail_msg_fuzz.c - libFuzzer target: any bytes as an address, a subject and a body. A
 * message that builds has CRLF lines only, no line over 998 bytes, and exactly the header
 * lines it should (no input adds one). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/mail_msg.h"

static void fuzz_assert(int ok, const char *what)
{
    if (ok)
        return;
    (void)fprintf(stderr, "mail_msg_fuzz: %s\n", what);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* the input split at its first two NUL bytes: address, subject, body */
    char *in = malloc(size + 3), *subject, *body, *out = NULL;
    struct mail_addr from = {"Nexus", "no-reply@example.com"}, to;
    struct err err = {0};
    struct mail_msg m;
    size_t len = 0, headers = 0;

    if (!in)
        return 0;
    memcpy(in, data, size);
    in[size] = in[size + 1] = in[size + 2] = '\0';
    subject = in + strlen(in) + 1;
    body = subject + strlen(subject) + 1;
    if (body > in + size + 2)
        body = in + size + 2;
    if (mail_addr_parse(in, &to, &err) == 0) {
        fuzz_assert(strpbrk(to.addr, "\r\n <>") == NULL, "address with a separator");
        fuzz_assert(strpbrk(to.name, "\r\n") == NULL, "name with a line break");
    } else {
        to = (struct mail_addr){"", "a@example.com"};
    }
    m = (struct mail_msg){.from = &from,
                          .to = &to,
                          .nto = 1,
                          .subject = subject,
                          .text = body,
                          .html = body,
                          .message_id = "x.nexus@example.com"};
    if (mail_msg_build(&m, &out, &len, &err) == 0) {
        size_t col = 0;

        for (size_t i = 0; i < len; i++) {
            if (out[i] == '\n')
                fuzz_assert(i > 0 && out[i - 1] == '\r', "bare LF");
            if (out[i] == '\r')
                fuzz_assert(out[i + 1] == '\n', "bare CR");
            col = out[i] == '\n' ? 0 : col + 1;
            fuzz_assert(col <= 998, "line over 998 bytes");
        }
        const char *end = strstr(out, "\r\n\r\n"), *p = out;

        fuzz_assert(end != NULL, "no end of headers");
        while (p && p <= end) { /* lines of the header block that do not continue one */
            headers += *p != ' ';
            p = strstr(p, "\r\n");
            p = p && p < end ? p + 2 : NULL;
        }
        fuzz_assert(headers == 7, "a header line was added or lost");
    }
    free(out);
    free(in);
    return 0;
}
