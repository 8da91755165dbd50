/* httpd_host.c - the Host check against DNS rebinding, and what a loopback listener is. */
#include "lib/httpd_host.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "lib/parse.h"

/* A host without its port, lowercased, without a final dot; a literal address parsed. */
struct host {
    char name[HTTPD_HOST_MAX + 1];
    int family; /* AF_INET, AF_INET6 for an address literal; 0 for a name */
    union {
        struct in_addr v4;
        struct in6_addr v6;
    } addr;
};

static bool port_valid(const char *s)
{
    uint32_t port;

    return parse_u32(s, 0, 65535, &port) == 0;
}

static bool name_char(char c)
{
    return isalnum((unsigned char)c) || c == '-' || c == '.' || c == '_';
}

/* Parses "name[:port]" or "[IPv6][:port]" (no port unless `port_ok`); false when
 * malformed. */
static bool host_parse(const char *s, bool port_ok, struct host *ret)
{
    bool bracket = *s == '[';
    const char *end, *rest;
    size_t len;

    if (bracket) {
        s++;
        end = strchr(s, ']');
        if (!end)
            return false;
        rest = end + 1;
    } else {
        end = s + strcspn(s, ":");
        rest = end;
    }
    if (*rest && (*rest != ':' || !port_ok || !port_valid(rest + 1)))
        return false;
    len = (size_t)(end - s);
    if (!bracket && *s == '.')
        return false;
    if (!bracket && len > 1 && s[len - 1] == '.')
        len--;
    if (len == 0 || len > HTTPD_HOST_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (bracket ? !(isxdigit((unsigned char)s[i]) || s[i] == ':' || s[i] == '.')
                    : !name_char(s[i]))
            return false;
        ret->name[i] = (char)tolower((unsigned char)s[i]);
    }
    ret->name[len] = '\0';
    ret->family = 0;
    if (bracket) {
        if (inet_pton(AF_INET6, ret->name, &ret->addr.v6) != 1)
            return false;
        ret->family = AF_INET6;
    } else if (inet_pton(AF_INET, ret->name, &ret->addr.v4) == 1) {
        ret->family = AF_INET;
    }
    return true;
}

static bool v4_loopback(const struct in_addr *a)
{
    return (ntohl(a->s_addr) >> 24) == 127;
}

static bool v6_loopback(const struct in6_addr *a)
{
    return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
}

static bool host_loopback(const struct host *h)
{
    size_t n = strlen(h->name);

    if (h->family == AF_INET)
        return v4_loopback(&h->addr.v4);
    if (h->family == AF_INET6)
        return v6_loopback(&h->addr.v6);
    return strcmp(h->name, "localhost") == 0 ||
           (n > 10 && strcmp(h->name + n - 10, ".localhost") == 0);
}

/* The address `listen` is bound to, or wildcard: any address literal. */
static bool host_is_listen(const struct host *h, const char *listen)
{
    struct sockaddr_storage ss;
    unsigned len;

    if (!h->family || parse_listen(listen, &ss, &len) < 0)
        return false;
    if (ss.ss_family == AF_INET) {
        const struct in_addr *a = &((const struct sockaddr_in *)&ss)->sin_addr;

        return a->s_addr == htonl(INADDR_ANY) ||
               (h->family == AF_INET && a->s_addr == h->addr.v4.s_addr);
    }
    if (ss.ss_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)&ss)->sin6_addr;

        return IN6_IS_ADDR_UNSPECIFIED(a) ||
               (h->family == AF_INET6 && memcmp(a, &h->addr.v6, sizeof(*a)) == 0);
    }
    return false;
}

/* "name", ".suffix" (the name and everything under it) or "*". */
static bool host_matches(const struct host *h, const char *entry)
{
    struct host e = {0};
    bool suffix = entry[0] == '.';
    size_t n, en;

    if (strcmp(entry, "*") == 0)
        return true;
    if (!host_parse(suffix ? entry + 1 : entry, false, &e))
        return false;
    if (e.family || h->family)
        return e.family == h->family &&
               (e.family == AF_INET ? e.addr.v4.s_addr == h->addr.v4.s_addr
                                    : memcmp(&e.addr.v6, &h->addr.v6, sizeof(e.addr.v6)) == 0);
    if (strcmp(e.name, h->name) == 0)
        return true;
    n = strlen(h->name);
    en = strlen(e.name);
    return suffix && n > en + 1 && h->name[n - en - 1] == '.' &&
           strcmp(h->name + n - en, e.name) == 0;
}

bool httpd_host_allowed(const char *host, const char *listen, const char *const *allowed)
{
    struct host h = {0};

    if (!host)
        return true;
    if (!host_parse(host, true, &h))
        return false;
    if (host_loopback(&h) || host_is_listen(&h, listen))
        return true;
    for (const char *const *a = allowed; a && *a; a++)
        if (host_matches(&h, *a))
            return true;
    return false;
}

bool httpd_host_listen_is_local(const char *listen)
{
    struct sockaddr_storage ss;
    unsigned len;

    if (parse_listen(listen, &ss, &len) < 0)
        return false;
    if (ss.ss_family == AF_UNIX)
        return true;
    if (ss.ss_family == AF_INET)
        return v4_loopback(&((const struct sockaddr_in *)&ss)->sin_addr);
    return ss.ss_family == AF_INET6 && v6_loopback(&((const struct sockaddr_in6 *)&ss)->sin6_addr);
}

bool httpd_host_entry_valid(const char *entry)
{
    struct host h = {0};

    if (strcmp(entry, "*") == 0)
        return true;
    if (entry[0] == '.')
        return host_parse(entry + 1, false, &h) && !h.family;
    return host_parse(entry, false, &h);
}
