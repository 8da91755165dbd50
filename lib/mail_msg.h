/* mail_msg.h - an email as MIME text (pure): addresses checked, headers encoded (RFC 2047)
 * and safe from injection, text and HTML bodies in quoted-printable UTF-8. */
#ifndef MAIL_MSG_H
#define MAIL_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct err;

#define MAIL_MAX_LOCAL 64       /* bytes of an address's local part (RFC 5321) */
#define MAIL_MAX_ADDR 254       /* bytes of local@domain (RFC 5321 path limit less <>) */
#define MAIL_MAX_NAME 256       /* bytes of a display name, UTF-8 */
#define MAIL_MAX_RCPTS 50       /* recipients of one message: to + cc + bcc */
#define MAIL_MAX_SUBJECT 998    /* bytes of the subject, UTF-8 */
#define MAIL_MAX_BODY (1 << 20) /* bytes of one body (text or HTML) before encoding */
#define MAIL_MAX_ID 256         /* bytes of a Message-ID without <> */

/* One mailbox: "Ada Lovelace <ada@example.com>" or "ada@example.com". */
struct mail_addr {
    char name[MAIL_MAX_NAME + 1]; /* display name, UTF-8, no control characters; "" for none */
    char addr[MAIL_MAX_ADDR + 1]; /* local@domain, ASCII */
};

/* Parses `text` into `ret`. Accepts "local@domain", "Name <local@domain>" and
 * "\"Name, Jr.\" <local@domain>". Rejects control characters (a CR or LF would start a new
 * header), non-ASCII addresses, and anything that is not one address. On failure returns
 * -EINVAL and fills `err` with a sentence starting with the quoted value, e.g.
 * "\"ada@\" is not an email address: the domain is empty". */
int mail_addr_parse(const char *text, struct mail_addr *ret, struct err *err);

/* The message. Strings are borrowed for the call. */
struct mail_msg {
    const struct mail_addr *from;
    const struct mail_addr *reply_to; /* NULL: no Reply-To */
    const struct mail_addr *to;       /* nto >= 1 (Bcc-only messages are not built) */
    size_t nto;
    const struct mail_addr *cc; /* shown in Cc:; bcc recipients appear in no header */
    size_t ncc;
    const char *subject;    /* UTF-8, 0..MAIL_MAX_SUBJECT bytes, no control characters */
    const char *text;       /* UTF-8 plain text body, NULL for none */
    const char *html;       /* UTF-8 HTML body, NULL for none; at least one of the two */
    const char *message_id; /* "local@domain" (printable ASCII, no <>, spaces or @@) */
    time_t date;            /* the Date: header, in UTC */
};

/* Builds the message: headers, then one text/plain or text/html part, or with both a
 * multipart/alternative (text first, as RFC 2046 orders them). Lines end in CRLF; bodies
 * are quoted-printable, so no line exceeds 76 bytes and the boundary (which contains "=_")
 * cannot occur in them. On success writes *ret_text (caller owns it, release with free())
 * and *ret_len; on failure returns -EINVAL (a bad subject, body or id, with a sentence in
 * `err` naming the field). */
int mail_msg_build(const struct mail_msg *m, char **ret_text, size_t *ret_len, struct err *err);

/* A stable Message-ID for the job `jid`: "<jid>.nexus@<domain>" when the jid is made of
 * [A-Za-z0-9._-] (Sidekiq's hex jids are), else a hash of it in hex. The same jid always
 * gives the same id, so every attempt of a job sends the same Message-ID and receivers
 * can discard a duplicate. Writes into `out` (MAIL_MAX_ID + 1 bytes) and returns it. */
const char *mail_msg_id(const char *jid, const char *domain, char *out);

/* The domain of an address ("example.com" for "ada@example.com"). Borrowed from `a`. */
const char *mail_addr_domain(const struct mail_addr *a);

/* Whether `s` is well-formed UTF-8 (no overlong forms, no surrogates). */
bool mail_utf8_valid(const char *s, size_t len);

#endif
