/* cfg_redis.c - the one place the full Redis address is made from the configuration. */
#include "conf/cfg.h"

#include "lib/raddr.h"
#include "lib/xalloc.h"

/* A path or name setting, "" meaning none. */
static char *setting_or_null(const char *s)
{
    return s && *s ? xstrdup(s) : NULL;
}

int cfg_redis_addr(const struct cfg *cfg, struct raddr *ret, struct err *err)
{
    struct raddr a;
    int r = raddr_parse(cfg->redis_url, &a, err);

    if (r < 0)
        return r;
    a.read_timeout_s = cfg->redis_read_timeout_s;
    if (a.tls) {
        a.tls_verify = cfg->redis_tls_verify;
        a.tls_ca_file = setting_or_null(cfg->redis_tls_ca_file);
        a.tls_cert_file = setting_or_null(cfg->redis_tls_cert_file);
        a.tls_key_file = setting_or_null(cfg->redis_tls_key_file);
        a.tls_server_name = setting_or_null(cfg->redis_tls_server_name);
    }
    if (cfg->redis_sentinels && cfg->redis_sentinels[0]) {
        size_t n = 0;

        while (cfg->redis_sentinels[n])
            n++;
        r = raddr_sentinels_set(&a, (const char *const *)cfg->redis_sentinels, n,
                                cfg->redis_sentinel_master,
                                *cfg->redis_sentinel_username ? cfg->redis_sentinel_username
                                                              : NULL,
                                cfg->redis_sentinel_password, err);
        if (r < 0) {
            raddr_clear(&a);
            return r;
        }
    }
    *ret = a;
    return 0;
}
