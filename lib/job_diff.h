/* job_diff.h - where two jobs differ in what lib/job.h gives for them: every accessor and the
 * encoding (pure; for the tests and the fuzzer that hold the fast decode to the full one). */
#ifndef JOB_DIFF_H
#define JOB_DIFF_H

struct job;

/* NULL when `a` and `b` give the same values through every accessor of lib/job.h, the same
 * canonical args and the same job_encode(), before and after the encoding builds their trees;
 * else the name of the first that differs (static text). */
const char *job_diff(const struct job *a, const struct job *b);

#endif
