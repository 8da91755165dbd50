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

/* The functions (lib/lazy.h's LIST): the variadic ones (N) are written out at the end. */
#define CURL_FUNCTIONS(X, V, N)                                                                    \
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
    V(curl_slist_free_all, (struct curl_slist * list), (list))                                     \
    N(curl_easy_setopt) N(curl_easy_getinfo) N(curl_multi_setopt)

LAZY_TABLE(curl_lib, "libcurl.so.4", CURL_FUNCTIONS);
#define LAZY_LIB curl_lib

int lazy_curl_load(const char **ret_why)
{
    return lazy_load(&curl_lib, ret_why);
}

CURL_FUNCTIONS(LAZY_DEFINE, LAZY_DEFINE_V, LAZY_SKIP)

/* The option's type is in its number (CURLOPTTYPE_*, as libcurl reads it), for the easy and
 * the multi handle's options alike: the one argument after it is passed on as that type. */
#define DEFINE_SETOPT(ret, name, handle_type, option_type)                                         \
    ret name(handle_type *handle, option_type option, ...)                                         \
    {                                                                                              \
        ret r;                                                                                     \
        va_list ap;                                                                                \
                                                                                                   \
        va_start(ap, option);                                                                      \
        if (option < CURLOPTTYPE_OBJECTPOINT)                                                      \
            r = LAZY_FN(name)(handle, option, va_arg(ap, long));                                   \
        else if (option < CURLOPTTYPE_FUNCTIONPOINT)                                               \
            r = LAZY_FN(name)(handle, option, va_arg(ap, void *));                                 \
        else if (option < CURLOPTTYPE_OFF_T)                                                       \
            r = LAZY_FN(name)(handle, option, va_arg(ap, lazy_fn *));                              \
        else if (option < CURLOPTTYPE_BLOB)                                                        \
            r = LAZY_FN(name)(handle, option, va_arg(ap, curl_off_t));                             \
        else                                                                                       \
            r = LAZY_FN(name)(handle, option, va_arg(ap, void *));                                 \
        va_end(ap);                                                                                \
        return r;                                                                                  \
    }
DEFINE_SETOPT(CURLcode, curl_easy_setopt, CURL, CURLoption)
DEFINE_SETOPT(CURLMcode, curl_multi_setopt, CURLM, CURLMoption)

/* Every CURLINFO_* takes a pointer to where the value goes. */
CURLcode curl_easy_getinfo(CURL *curl, CURLINFO info, ...)
{
    CURLcode r;
    va_list ap;

    va_start(ap, info);
    r = LAZY_FN(curl_easy_getinfo)(curl, info, va_arg(ap, void *));
    va_end(ap);
    return r;
}
