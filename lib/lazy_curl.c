/* lazy_curl.c - every libcurl function nexusd calls, defined as a call into libcurl loaded at
 * its first use (lib/lazy.h). A function the sources start to call and this file lacks fails
 * the link ("undefined reference"): add it to a list below, with the prototype of
 * <curl/curl.h>, which the compiler checks against ours. */
#include "lib/lazy_curl.h"

/* <curl/curl.h>'s type checks make curl_easy_setopt() and curl_easy_getinfo() macros; the
 * callers have them, the definitions here need the names alone */
#define CURL_DISABLE_TYPECHECK

#include <stdarg.h>
#include <time.h>

#include <curl/curl.h>

#include "lib/lazy.h"

/* X(return type, name, parameters, arguments), V(name, parameters, arguments) for those
 * returning void. */
#define CURL_FIXED(X, V)                                                                           \
    V(curl_easy_cleanup, (CURL * curl), (curl))                                                    \
    X(CURLHcode, curl_easy_header,                                                                 \
      (CURL * easy, const char *name, size_t index, unsigned int origin, int request,              \
       struct curl_header **hout),                                                                 \
      (easy, name, index, origin, request, hout))                                                  \
    X(CURL *, curl_easy_init, (void), ())                                                          \
    X(CURLcode, curl_easy_recv, (CURL * curl, void *buffer, size_t buflen, size_t *n),             \
      (curl, buffer, buflen, n))                                                                   \
    X(CURLcode, curl_easy_send, (CURL * curl, const void *buffer, size_t buflen, size_t *n),       \
      (curl, buffer, buflen, n))                                                                   \
    X(const char *, curl_easy_strerror, (CURLcode code), (code))                                   \
    X(time_t, curl_getdate, (const char *p, const time_t *unused), (p, unused))                    \
    V(curl_global_cleanup, (void), ())                                                             \
    X(CURLcode, curl_global_init, (long flags), (flags))                                           \
    X(CURLMcode, curl_multi_add_handle, (CURLM * multi, CURL * easy), (multi, easy))               \
    X(CURLMcode, curl_multi_assign, (CURLM * multi, curl_socket_t fd, void *p), (multi, fd, p))    \
    X(CURLMcode, curl_multi_cleanup, (CURLM * multi), (multi))                                     \
    X(CURLMsg *, curl_multi_info_read, (CURLM * multi, int *msgs_in_queue),                        \
      (multi, msgs_in_queue))                                                                      \
    X(CURLM *, curl_multi_init, (void), ())                                                        \
    X(CURLMcode, curl_multi_remove_handle, (CURLM * multi, CURL * easy), (multi, easy))            \
    X(CURLMcode, curl_multi_socket_action,                                                         \
      (CURLM * multi, curl_socket_t fd, int ev_bitmask, int *running),                             \
      (multi, fd, ev_bitmask, running))                                                            \
    X(struct curl_slist *, curl_slist_append, (struct curl_slist * list, const char *data),        \
      (list, data))                                                                                \
    V(curl_slist_free_all, (struct curl_slist * list), (list))
/* The variadic ones, written out at the end. */
#define CURL_VARIADIC(N) N(curl_easy_setopt) N(curl_easy_getinfo) N(curl_multi_setopt)

#define INDEX(ret, name, params, args) I_##name,
#define INDEX_V(name, params, args) I_##name,
#define INDEX_N(name) I_##name,
enum { CURL_FIXED(INDEX, INDEX_V) CURL_VARIADIC(INDEX_N) N_FUNCTIONS };

#define NAME(ret, name, params, args) #name,
#define NAME_V(name, params, args) #name,
#define NAME_N(name) #name,
static const char *const names[] = {CURL_FIXED(NAME, NAME_V) CURL_VARIADIC(NAME_N)};

static lazy_fn *fns[N_FUNCTIONS];
static struct lazy_lib curl_lib = {"libcurl.so.4", names, fns, N_FUNCTIONS, 0, ""};

int lazy_curl_load(const char **ret_why)
{
    int r = lazy_load(&curl_lib);

    if (r < 0)
        *ret_why = curl_lib.why;
    return r;
}

/* libcurl's function `name`, as its own type. */
#define FN(name) ((__typeof__(&name))lazy_get(&curl_lib, I_##name))

#define DEFINE(ret, name, params, args)                                                            \
    ret name params                                                                                \
    {                                                                                              \
        return FN(name) args;                                                                      \
    }
#define DEFINE_V(name, params, args)                                                               \
    void name params                                                                               \
    {                                                                                              \
        FN(name) args;                                                                             \
    }
CURL_FIXED(DEFINE, DEFINE_V)

/* The option's type is in its number (CURLOPTTYPE_*, as libcurl reads it), for the easy and
 * the multi handle's options alike: the one argument after it is passed on as that type. */
#define PASS_OPTION(call, option, ap)                                                              \
    ((option) < CURLOPTTYPE_OBJECTPOINT     ? call(va_arg(ap, long))                               \
     : (option) < CURLOPTTYPE_FUNCTIONPOINT ? call(va_arg(ap, void *))                             \
     : (option) < CURLOPTTYPE_OFF_T         ? call(va_arg(ap, lazy_fn *))                          \
     : (option) < CURLOPTTYPE_BLOB          ? call(va_arg(ap, curl_off_t))                         \
                                            : call(va_arg(ap, void *)))

CURLcode curl_easy_setopt(CURL *curl, CURLoption option, ...)
{
    CURLcode r;
    va_list ap;

    va_start(ap, option);
#define CALL(value) FN(curl_easy_setopt)(curl, option, value)
    r = PASS_OPTION(CALL, option, ap);
#undef CALL
    va_end(ap);
    return r;
}

CURLMcode curl_multi_setopt(CURLM *multi, CURLMoption option, ...)
{
    CURLMcode r;
    va_list ap;

    va_start(ap, option);
#define CALL(value) FN(curl_multi_setopt)(multi, option, value)
    r = PASS_OPTION(CALL, option, ap);
#undef CALL
    va_end(ap);
    return r;
}

/* Every CURLINFO_* takes a pointer to where the value goes. */
CURLcode curl_easy_getinfo(CURL *curl, CURLINFO info, ...)
{
    CURLcode r;
    va_list ap;

    va_start(ap, info);
    r = FN(curl_easy_getinfo)(curl, info, va_arg(ap, void *));
    va_end(ap);
    return r;
}
