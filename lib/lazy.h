/* lazy.h - a shared library loaded at its first use (dlopen), not at the process's start.
 *
 * libcurl and libpq, with what they pull in (Kerberos, LDAP, SASL, SSH, HTTP/2, IDN, ...:
 * 20 libraries), were 1.6 MB of an idle process's 8.9 MB resident memory
 * (bench/bench_memory.py), yet many processes never make an HTTP transfer or have no
 * database. They are not linked: lib/lazy_curl.c and sql/lazy_pq.c define each function the
 * sources call, under the library's own name, as a call through a table this module fills. The sources call libcurl
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
 * call). Returns 0, or -ENOENT with lib->why saying which library or symbol is missing, also
 * in *ret_why when `ret_why` is not NULL (borrowed from `lib`, valid until the next call). */
int lazy_load(struct lazy_lib *lib, const char **ret_why);

/* Symbol `i` of `lib`, loaded if needed. A library that cannot be loaded here ends the
 * process with a message: the callers' own checks (lazy_curl_load(), lazy_pq_load()) run
 * before any call that cannot report a failure, so this is a packaging error (the library
 * removed under a running process). */
lazy_fn *lazy_get(struct lazy_lib *lib, size_t i);

/* For a module standing in for a library. LIST(X, V, N) names its functions:
 * X(return type, name, (parameters), (arguments)), V(name, (parameters), (arguments)) for
 * those returning void, N(name) for those the module writes out itself (variadic ones).
 * LAZY_TABLE(lib, soname, LIST) declares the table `lib`; then, with LAZY_LIB defined as
 * `lib`, LIST(LAZY_DEFINE, LAZY_DEFINE_V, LAZY_SKIP) defines every X and V function, and
 * LAZY_FN(name) is the library's own `name`, as its own type. */
#define LAZY_TABLE(lib, soname, LIST)                                                              \
    enum { LIST(LAZY_INDEX, LAZY_INDEX_V, LAZY_INDEX_N) LAZY_N_##lib };                            \
    static const char *const lib##_names[] = {LIST(LAZY_NAME, LAZY_NAME_V, LAZY_NAME_N)};          \
    static lazy_fn *lib##_fns[LAZY_N_##lib];                                                       \
    static struct lazy_lib lib = {soname, lib##_names, lib##_fns, LAZY_N_##lib, 0, ""}
#define LAZY_FN(name) ((__typeof__(&name))lazy_get(&LAZY_LIB, LAZY_I_##name))
#define LAZY_DEFINE(ret, name, params, args)                                                       \
    ret name params                                                                                \
    {                                                                                              \
        return LAZY_FN(name) args;                                                                 \
    }
#define LAZY_DEFINE_V(name, params, args)                                                          \
    void name params                                                                               \
    {                                                                                              \
        LAZY_FN(name) args;                                                                        \
    }
#define LAZY_SKIP(name)
#define LAZY_INDEX(ret, name, params, args) LAZY_I_##name,
#define LAZY_INDEX_V(name, params, args) LAZY_I_##name,
#define LAZY_INDEX_N(name) LAZY_I_##name,
#define LAZY_NAME(ret, name, params, args) #name,
#define LAZY_NAME_V(name, params, args) #name,
#define LAZY_NAME_N(name) #name,

#endif
