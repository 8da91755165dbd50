/* webhook.h - `http` classes: jobs POSTed to a URL of the app, signed with HMAC-SHA256. */
#ifndef WEBHOOK_H
#define WEBHOOK_H

#include <stddef.h>

#define WEBHOOK_SIG_HEX 64 /* hex digits of an HMAC-SHA256 */

/* The signature the X-Nexus-Signature header carries as v1: the lowercase hex HMAC-SHA256,
 * keyed with `secret`, of "<t>.<body>" where t is the Unix time also sent as t=. Pure.
 * Returns 0, or -ENOMEM / -EINVAL. */
int webhook_sign(const char *secret, long long t, const char *body, size_t len,
                 char ret_hex[WEBHOOK_SIG_HEX + 1]);

#endif
