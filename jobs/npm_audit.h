/* npm_audit.h - counts by severity from `npm audit --json` output (pure). */
#ifndef NPM_AUDIT_H
#define NPM_AUDIT_H

#include <stddef.h>

struct err;
typedef struct json_t json_t;

/* Severities, in the order of conf's fail_on levels (cfg_class.fail_level). */
enum npm_audit_level {
    NPM_AUDIT_INFO = 1,
    NPM_AUDIT_LOW,
    NPM_AUDIT_MODERATE,
    NPM_AUDIT_HIGH,
    NPM_AUDIT_CRITICAL,
};
#define NPM_AUDIT_MAX_PACKAGES 200 /* vulnerable packages named in the result */

struct npm_audit {
    long long count[NPM_AUDIT_CRITICAL + 1]; /* by level; [0] unused */
    long long total;
};

/* Reads the report of npm 7 and later (auditReportVersion 2: metadata.vulnerabilities with
 * info..critical and total, vulnerabilities by package name) or of npm 6 (advisories).
 * On success fills *ret and writes *ret_result, caller owns it, release with json_decref():
 *   {"parser": "npm-audit", "vulnerabilities": {"info": 0, ..., "critical": 1, "total": 1},
 *    "dependencies": 812, "packages": {"semver": "moderate", ...}}
 * ("dependencies" when the report has it; at most NPM_AUDIT_MAX_PACKAGES packages).
 * Returns -EINVAL with a sentence when `text` is no report: not JSON ("npm audit output is
 * not JSON: ..."), npm's own error object ("npm audit failed: ENOLOCK: ..."), or counts
 * missing or negative. */
int npm_audit_parse(const char *text, size_t len, struct npm_audit *ret, json_t **ret_result,
                    struct err *err);
/* The highest level with a count above 0; 0 when there is none. */
int npm_audit_worst(const struct npm_audit *a);
/* The name of a level: "info" .. "critical"; "none" for 0. Static. */
const char *npm_audit_level_name(int level);
/* "2 high, 1 critical" (levels from `from` up with a count), "none" when all are 0. */
void npm_audit_summary(const struct npm_audit *a, int from, char *buf, size_t size);

#endif
