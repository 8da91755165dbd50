/* decimal.c - unsigned integers in decimal (decimal.h). */
#include "lib/decimal.h"

size_t decimal_digits(unsigned long long v)
{
    size_t d = 1;

    while (v >= 10) {
        v /= 10;
        d++;
    }
    return d;
}

size_t decimal_put(char *out, unsigned long long v)
{
    size_t d = decimal_digits(v);

    out[d] = '\0';
    for (size_t i = d; i-- > 0; v /= 10)
        out[i] = (char)('0' + v % 10);
    return d;
}
