/* rtls.c - client SSL contexts shared per TLS settings, and TLS failures in words. */
#include "queue/rtls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "lib/err.h"
#include "lib/log.h"
#include "lib/raddr.h"
#include "lib/xalloc.h"

/* One context per distinct (verify, CA, certificate, key): made once, kept for the life of
 * the process (the settings need a restart to change), shared by its connections. */
struct tls_ctx {
    struct tls_ctx *next;
    char *key; /* the settings, spelled out */
    SSL_CTX *ctx;
};

static struct tls_ctx *contexts;

static const char *or_none(const char *s)
{
    return s ? s : "";
}

/* OpenSSL's reason for the last failure, emptying its queue. */
static const char *ssl_reason(char *buf, size_t size)
{
    unsigned long e = ERR_peek_last_error();

    if (!e)
        (void)snprintf(buf, size, "unknown error");
    else
        ERR_error_string_n(e, buf, size);
    ERR_clear_error();
    return buf;
}

static int ctx_fail(SSL_CTX *ctx, struct err *err, const char *what, const char *path)
{
    char why[256];

    SSL_CTX_free(ctx);
    return err_set(err, -EINVAL, "TLS: cannot use %s '%s': %s", what, path,
                   ssl_reason(why, sizeof(why)));
}

static SSL_CTX *ctx_make(const struct raddr *a, struct err *err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (!ctx) {
        (void)ctx_fail(NULL, err, "OpenSSL's", "TLS_client_method");
        return NULL;
    }
    (void)SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    (void)SSL_CTX_set_mode(ctx,
                           SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* a server gone without close_notify is a closed connection (RESP frames every reply, so
     * a cut one is seen as such), not a TLS error */
    (void)SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_verify(ctx, a->tls_verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
    if (a->tls_ca_file) {
        if (SSL_CTX_load_verify_locations(ctx, a->tls_ca_file, NULL) != 1) {
            (void)ctx_fail(ctx, err, "redis.tls_ca_file", a->tls_ca_file);
            return NULL;
        }
    } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        (void)ctx_fail(ctx, err, "the system's CA store", X509_get_default_cert_file());
        return NULL;
    }
    if (a->tls_cert_file && SSL_CTX_use_certificate_chain_file(ctx, a->tls_cert_file) != 1) {
        (void)ctx_fail(ctx, err, "redis.tls_cert_file", a->tls_cert_file);
        return NULL;
    }
    if (a->tls_key_file &&
        (SSL_CTX_use_PrivateKey_file(ctx, a->tls_key_file, SSL_FILETYPE_PEM) != 1 ||
         SSL_CTX_check_private_key(ctx) != 1)) {
        (void)ctx_fail(ctx, err, "redis.tls_key_file", a->tls_key_file);
        return NULL;
    }
    if (!a->tls_verify)
        log_warn("event=redis_tls_unverified why=\"redis.tls_verify is false: the Redis "
                 "server's certificate and name are not checked\"");
    return ctx;
}

static SSL_CTX *ctx_get(const struct raddr *a, struct err *err)
{
    char *key = xasprintf("%d\n%s\n%s\n%s", a->tls_verify, or_none(a->tls_ca_file),
                          or_none(a->tls_cert_file), or_none(a->tls_key_file));
    struct tls_ctx *c;
    SSL_CTX *ctx;

    for (c = contexts; c; c = c->next)
        if (strcmp(c->key, key) == 0) {
            free(key);
            return c->ctx;
        }
    ctx = ctx_make(a, err);
    if (!ctx) {
        free(key);
        return NULL;
    }
    c = xmalloc(sizeof(*c));
    c->key = key;
    c->ctx = ctx;
    c->next = contexts;
    contexts = c;
    return ctx;
}

static bool is_ip(const char *name)
{
    unsigned char buf[sizeof(struct in6_addr)];

    return inet_pton(AF_INET, name, buf) == 1 || inet_pton(AF_INET6, name, buf) == 1;
}

static void peek_on_message(int write_p, int version, int content_type, const void *buf, size_t len,
                            SSL *ssl, void *arg)
{
    struct rtls_peek *peek = arg;

    if (!write_p && content_type == SSL3_RT_HEADER && len > 0 && peek->first_byte < 0)
        peek->first_byte = *(const unsigned char *)buf;
}

SSL *rtls_new(const struct raddr *addr, struct rtls_peek *peek, struct err *err)
{
    const char *name = addr->tls_server_name ? addr->tls_server_name : addr->host;
    SSL_CTX *ctx = ctx_get(addr, err);
    char why[256];
    SSL *ssl;
    bool ip = is_ip(name);
    int ok = 1;

    if (!ctx)
        return NULL;
    ssl = SSL_new(ctx);
    if (!ssl) {
        (void)err_set(err, -ENOMEM, "TLS: SSL_new failed: %s", ssl_reason(why, sizeof(why)));
        return NULL;
    }
    peek->first_byte = -1;
    SSL_set_msg_callback(ssl, peek_on_message);
    SSL_set_msg_callback_arg(ssl, peek);
    if (!ip) /* SNI carries names only */
        ok = SSL_set_tlsext_host_name(ssl, name) == 1;
    if (ok && addr->tls_verify) {
        if (ip)
            ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) == 1;
        else {
            SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            ok = SSL_set1_host(ssl, name) == 1;
        }
    }
    if (!ok) {
        SSL_free(ssl);
        (void)err_set(err, -EINVAL, "TLS: cannot use '%s' as the server name: %s", name,
                      ssl_reason(why, sizeof(why)));
        return NULL;
    }
    return ssl;
}

/* The first byte of a RESP reply: what a plain Redis answers to a ClientHello. */
static bool looks_like_resp(int c)
{
    return c > 0 && strchr("+-$*:", c) != NULL;
}

const char *rtls_error(SSL *ssl, int ret, const struct rtls_peek *peek, const char *what, char *buf,
                       size_t size)
{
    int e = SSL_get_error(ssl, ret);
    unsigned long code = ERR_peek_last_error();
    long verify = SSL_get_verify_result(ssl);
    char why[256];

    if (e == SSL_ERROR_SSL && verify != X509_V_OK && !SSL_is_init_finished(ssl)) {
        (void)snprintf(buf, size, "%s failed: certificate verify failed: %s", what,
                       X509_verify_cert_error_string(verify));
        ERR_clear_error();
    } else if (e == SSL_ERROR_SSL && (looks_like_resp(peek->first_byte) ||
                                      ERR_GET_REASON(code) == SSL_R_WRONG_VERSION_NUMBER)) {
        (void)snprintf(buf, size,
                       "%s failed: the server answered in plain text (not a TLS port? use "
                       "redis:// for a plain server): %s",
                       what, ssl_reason(why, sizeof(why)));
    } else if (e == SSL_ERROR_SSL) {
        (void)snprintf(buf, size, "%s failed: %s", what, ssl_reason(why, sizeof(why)));
    } else if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && errno == 0)) {
        (void)snprintf(buf, size, "%s failed: the server closed the connection", what);
        ERR_clear_error();
    } else {
        (void)snprintf(buf, size, "%s failed: %s", what, strerror(errno));
        ERR_clear_error();
    }
    return buf;
}
