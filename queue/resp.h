/* resp.h - a Redis command as RESP text: "*<argc>\r\n" then "$<len>\r\n<bytes>\r\n" a word.
 *
 * rconn formats every command it sends through this, not hiredis's redisFormatCommandArgv,
 * which writes each length with sprintf: 700 instructions a word, 44,000 a job on the idle
 * path of a process whose scripts carry tens of words (docs/benchmarks.md). Pure: no I/O. */
#ifndef RESP_H
#define RESP_H

#include <stddef.h>

/* The command of `argc` (> 0) words, argv[i] of argvlen[i] bytes (strlen(argv[i]) when
 * argvlen is NULL), in one new buffer the caller frees with free(); its length in *len.
 * Never NULL (xalloc's policy). */
char *resp_format(int argc, const char *const *argv, const size_t *argvlen, size_t *len);

#endif
