/* sdnotify.c - systemd's notification protocol on a datagram socket (sdnotify.h). */
#include "lib/sdnotify.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/parse.h"
#include "lib/xalloc.h"

int sdnotify_addr(const char *value, struct sockaddr_un *ret, socklen_t *ret_len)
{
    size_t len = value ? strlen(value) : 0;

    if (len < 2 || (value[0] != '/' && value[0] != '@') || len >= sizeof(ret->sun_path))
        return -EINVAL;
    memset(ret, 0, sizeof(*ret));
    ret->sun_family = AF_UNIX;
    memcpy(ret->sun_path, value, len);
    if (value[0] == '@')
        ret->sun_path[0] = '\0'; /* abstract: the name's length, no terminating NUL */
    *ret_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (value[0] == '/'));
    return 0;
}

int sdnotify_send(const char *msg)
{
    const char *value = getenv("NOTIFY_SOCKET");
    struct sockaddr_un addr;
    socklen_t addr_len;
    ssize_t n;
    int fd, r = 1;

    if (!value)
        return 0;
    if (sdnotify_addr(value, &addr, &addr_len) < 0)
        return -EINVAL;
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    n = sendto(fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&addr,
               addr_len);
    if (n < 0)
        r = -errno;
    else if ((size_t)n != strlen(msg))
        r = -EMSGSIZE;
    (void)close(fd);
    return r;
}

int sdnotify_sendf(const char *fmt, ...)
{
    va_list ap;
    char *msg;
    int r;

    va_start(ap, fmt);
    msg = xvasprintf(fmt, ap);
    va_end(ap);
    r = sdnotify_send(msg);
    free(msg);
    return r;
}

int sdnotify_watchdog(const char *usec, const char *pid, pid_t self, uint64_t *ret_usec)
{
    int64_t u;
    uint32_t p;

    if (!usec)
        return 0;
    if (parse_i64(usec, 0, INT64_MAX, &u) < 0)
        return -EINVAL;
    if (pid) {
        if (parse_u32(pid, 1, UINT32_MAX, &p) < 0)
            return -EINVAL;
        if ((pid_t)p != self)
            return 0;
    }
    if (u == 0)
        return 0;
    *ret_usec = (uint64_t)u;
    return 1;
}
