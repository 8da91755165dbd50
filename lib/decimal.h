/* decimal.h - an unsigned integer in decimal, without printf: the hot path writes numbers
 * into every Redis command (lengths, counts, tokens), and glibc's sprintf spends 700
 * instructions on one. Pure. */
#ifndef DECIMAL_H
#define DECIMAL_H

#include <stddef.h>

#define DECIMAL_MAX 21 /* the digits of 2^64 - 1 and a NUL */

/* How many digits v has (1 for 0). */
size_t decimal_digits(unsigned long long v);

/* v's digits at out (room for decimal_digits(v) + 1), NUL-terminated; returns the digits'
 * count. */
size_t decimal_put(char *out, unsigned long long v);

#endif
