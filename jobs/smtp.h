/* smtp.h - one message handed to an SMTP server on the loop: libcurl (lib/xfer) connects,
 * does EHLO, STARTTLS and AUTH; the envelope and DATA go over that connection without
 * blocking. The server's reply, and an error class Rails developers know from Net::SMTP. */
#ifndef SMTP_H
#define SMTP_H

#include <stdbool.h>
#include <stddef.h>

struct ev_loop;
struct xfer;
struct smtp_send; /* opaque: one message in flight */

#define SMTP_REPLY_MAX 512 /* bytes of the server's reply kept */

enum smtp_tls {
    SMTP_TLS_TRY,    /* smtp://: STARTTLS when the server offers it */
    SMTP_TLS_ALWAYS, /* smtp://: STARTTLS or fail */
    SMTP_TLS_NEVER,  /* smtp://: plain text */
};

/* Where and how to send. Strings are borrowed for smtp_send() only (libcurl copies them). */
struct smtp_server {
    const char *url;           /* smtp://host[:port][/ehlo-name] or smtps://...; may carry
                                  user:password@ */
    const char *username;      /* "" for none (or the URL's) */
    const char *password;      /* "" for none (or the URL's) */
    enum smtp_tls tls;         /* for smtp:// (smtps:// is TLS from the first byte); with
                                  credentials, TRY and NEVER act as ALWAYS unless
                                  allow_plaintext_auth: AUTH never goes in clear text */
    bool allow_plaintext_auth; /* AUTH may go without TLS (Postfix without noplaintext) */
    const char *ca_file;       /* CA bundle to verify the server with; "" for the system's */
    double connect_timeout_s;  /* > 0: TCP and TLS set-up */
    double timeout_s;          /* > 0: the whole exchange, so a server that hangs fails it */
};

enum smtp_outcome {
    SMTP_SENT,        /* the server accepted the message (2xx after DATA) */
    SMTP_REFUSED,     /* the server answered 4xx (try later) or 5xx (refused) */
    SMTP_AUTH_FAILED, /* the credentials were refused */
    SMTP_TIMEOUT,     /* no answer in time */
    SMTP_UNREACHABLE, /* no connection: refused, reset, unknown host */
    SMTP_TLS_FAILED,  /* TLS could not be set up or the server's certificate was refused,
                         or the server offers no STARTTLS where it is needed */
    SMTP_FAILED,      /* anything else (the connection dropped, a protocol error) */
};

/* How the exchange ended. Strings borrowed, valid during the callback. */
struct smtp_result {
    enum smtp_outcome outcome;
    int code;                /* the server's last reply code, 0 when none came */
    const char *reply;       /* the server's last reply line, "" when none */
    const char *error_class; /* "" when sent; else e.g. "Net::SMTPServerBusy" */
    const char *error;       /* "" when sent; else one sentence with code and reply */
};
typedef void smtp_done_fn(const struct smtp_result *res, void *arg);

/* Sends `msg` (len bytes, CRLF lines; dot-stuffed here) from `mail_from` to the
 * `nrcpts` envelope recipients (bare addresses). Takes ownership of `msg`, also on failure.
 * `done` runs exactly once, later, from the loop, unless smtp_abort() comes first. On
 * success writes *ret_send, valid until `done` has run or smtp_abort(). Returns 0, or
 * -EINVAL (no recipient, or libcurl refused the set-up) or -EIO (no libcurl handle:
 * xfer_easy_why() says why), and then `done` never runs. */
int smtp_send(struct ev_loop *loop, struct xfer *x, const struct smtp_server *srv,
              const char *mail_from, const char *const *rcpts, size_t nrcpts, char *msg, size_t len,
              smtp_done_fn *done, void *arg, struct smtp_send **ret_send);
/* Stops the exchange at once and frees it; `done` is not called. */
void smtp_abort(struct smtp_send *s);

#endif
