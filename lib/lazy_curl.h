/* lazy_curl.h - libcurl, loaded at the first transfer (lib/lazy.h): include <curl/curl.h>
 * and call libcurl as usual; this module defines its functions. */
#ifndef LAZY_CURL_H
#define LAZY_CURL_H

/* Loads libcurl if it is not yet. Returns 0, or -ENOENT with *ret_why (static, valid until
 * the next call) saying what is missing. Call before the first libcurl function of a path
 * that can report a failure; a later call is one test. */
int lazy_curl_load(const char **ret_why);

#endif
