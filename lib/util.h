/* util.h - wall clock, random numbers, and this host's view of processes. */
#ifndef UTIL_H
#define UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Wall-clock time, epoch seconds with microseconds. */
double util_now(void);
/* A random 64-bit number (xoshiro seeded from getrandom once). Not for secrets. */
unsigned long long util_random(void);
/* Writes an id shared by processes that see the same pids: boot id plus pid namespace. The
 * boot id comes from /proc/sys/kernel/random/boot_id, or, where /proc/sys is hidden
 * (ProcSubset=pid), from NEXUS_BOOT_ID (32 hex digits, systemd's %b). Returns 0 or a
 * negative errno. */
int util_host_id(char *buf, size_t size);
/* The start time of `pid` in clock ticks since boot (/proc/PID/stat), -1 when there is no
 * such process or it is a zombie, or UTIL_PID_HIDDEN when /proc does not show it but the
 * process exists (another user's, under ProtectProc=invisible): its start time is unknown. */
#define UTIL_PID_HIDDEN (-2LL)
long long util_pid_start(pid_t pid);

#endif
