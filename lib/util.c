/* util.c - clock, random numbers, process identity on this host. */
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/random.h>

#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

double util_now(void)
{
    struct timeval tv;

    (void)gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

unsigned long long util_random(void)
{
    static uint64_t s[4];
    static bool seeded;
    uint64_t result, t;

    if (!seeded) {
        if (getrandom(s, sizeof(s), 0) != sizeof(s)) {
            s[0] = (uint64_t)getpid() * 0x9e3779b97f4a7c15ull ^ (uint64_t)(util_now() * 1e6);
            s[1] = s[0] * 0xbf58476d1ce4e5b9ull + 1;
            s[2] = s[1] ^ 0x94d049bb133111ebull;
            s[3] = s[2] + 0x2545f4914f6cdd1dull;
        }
        seeded = true;
    }
    result = rotl(s[1] * 5, 7) * 9;
    t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* NEXUS_BOOT_ID as the unit passes it (systemd's %b, 32 hex digits) in the form of
 * /proc/sys/kernel/random/boot_id (8-4-4-4-12), so that processes in and out of the unit
 * agree; false when it is unset or not a boot id. */
static bool boot_id_from_env(char *boot, size_t size)
{
    const char *v = getenv("NEXUS_BOOT_ID");

    if (!v || strlen(v) != 32 || strspn(v, "0123456789abcdef") != 32 || size < 37)
        return false;
    (void)snprintf(boot, size, "%.8s-%.4s-%.4s-%.4s-%.12s", v, v + 8, v + 12, v + 16, v + 20);
    return true;
}

int util_host_id(char *buf, size_t size)
{
    char boot[64] = "";
    struct stat st;
    FILE *f;

    f = fopen("/proc/sys/kernel/random/boot_id", "re");
    if (f) {
        if (!fgets(boot, sizeof(boot), f))
            boot[0] = '\0';
        (void)fclose(f);
        boot[strcspn(boot, "\n")] = '\0';
    }
    /* ProcSubset=pid (packaging/nexusd.service) hides /proc/sys */
    if (!boot[0])
        (void)boot_id_from_env(boot, sizeof(boot));
    if (stat("/proc/self/ns/pid", &st) < 0)
        st.st_ino = 0;
    if (!boot[0] || !st.st_ino)
        return -ENOENT;
    (void)snprintf(buf, size, "%s/%llu", boot, (unsigned long long)st.st_ino);
    return 0;
}

long long util_pid_start(pid_t pid)
{
    char path[64], line[1024], *p;
    unsigned long long start;
    FILE *f;
    int field;

    (void)snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "re");
    if (!f) /* EPERM from kill(): it exists, as a user whose /proc entries are hidden */
        return errno == ENOENT && kill(pid, 0) < 0 && errno == EPERM ? UTIL_PID_HIDDEN : -1;
    p = fgets(line, sizeof(line), f);
    (void)fclose(f);
    if (!p)
        return -1;
    p = strrchr(line, ')'); /* the command name may hold spaces and parentheses */
    if (!p || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X')
        return -1; /* a zombie is gone, whatever its parent did not reap yet */
    /* the space after ')' opens field 3; starttime is field 22, 20 spaces on */
    for (field = 3; field <= 22 && p; field++)
        p = strchr(p + 1, ' ');
    if (!p || sscanf(p + 1, "%llu", &start) != 1)
        return -1;
    return (long long)start;
}
