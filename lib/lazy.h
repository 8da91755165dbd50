/* lazy.h - a shared library loaded at its first use (dlopen), not at the process's start.
 *
 * libcurl and libpq, with what they pull in (Kerberos, LDAP, SASL, SSH, HTTP/2, IDN, ...,
 * some 45 libraries), are about 1.8 MB of an idle process's resident memory and its start-up
 * time, yet many processes never make an HTTP transfer or have no database. They are not
 * linked: lib/lazy_curl.c and sql/lazy_pq.c define each function the sources call, under the
 * library's own name, as a call through a table this module fills. The sources call libcurl
 * and libpq as usual; the first call (or the load functions those modules export, which
 * report a failure as an error instead) loads the library. Only the loop's thread calls
 * these functions before a library is loaded, so loading takes no lock. */
#ifndef LAZY_H
#define LAZY_H

#include <stddef.h>

typedef void lazy_fn(void); /* a function of any type: cast to its own type to call */

struct lazy_lib {
    const char *soname;       /* "libcurl.so.4": the ABI the headers we compile with name */
    const char *const *names; /* `n` symbol names */
    lazy_fn **fns;            /* `n` slots, filled by lazy_load() */
    size_t n;
    int loaded;    /* 1 once every symbol was found */
    char why[256]; /* the last failure, for lazy_load()'s caller */
};

/* Loads `lib` and every symbol it names, once (a failed load is tried again at the next
 * call). Returns 0, or -ENOENT with lib->why saying which library or symbol is missing. */
int lazy_load(struct lazy_lib *lib);

/* Symbol `i` of `lib`, loaded if needed. A library that cannot be loaded here ends the
 * process with a message: the callers' own checks (lazy_curl_load(), lazy_pq_load()) run
 * before any call that cannot report a failure, so this is a packaging error (the library
 * removed under a running process). */
lazy_fn *lazy_get(struct lazy_lib *lib, size_t i);

#endif
