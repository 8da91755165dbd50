/* npm_audit.c - reads the severity counts of an `npm audit --json` report. */
#include "jobs/npm_audit.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "lib/err.h"

static const char *const level_names[] = {"none", "info", "low", "moderate", "high", "critical"};
#define NLEVELS (sizeof(level_names) / sizeof(level_names[0]))

const char *npm_audit_level_name(int level)
{
    return level >= 0 && (size_t)level < NLEVELS ? level_names[level] : "none";
}

static int level_of(const char *name)
{
    for (size_t i = 1; name && i < NLEVELS; i++)
        if (strcmp(name, level_names[i]) == 0)
            return (int)i;
    return 0;
}

/* npm's error object: {"error": {"code": "ENOLOCK", "summary": "...", "detail": "..."}}. */
static int error_report(json_t *error, struct err *err)
{
    const char *code = json_string_value(json_object_get(error, "code"));
    const char *summary = json_string_value(json_object_get(error, "summary"));

    if (!summary)
        summary = json_string_value(json_object_get(error, "message"));
    return err_set(err, -EINVAL, "npm audit failed: %s: %s", code ? code : "no code",
                   summary ? summary : "no summary");
}

/* The vulnerable packages by name: npm 7+ "vulnerabilities", npm 6 "advisories". Names and
 * levels come from the parsed report: valid UTF-8, so nothing here can fail. */
static void packages_fill(json_t *root, json_t *packages)
{
    json_t *vulns = json_object_get(root, "vulnerabilities");
    json_t *advisories = json_object_get(root, "advisories");
    const char *key;
    json_t *v;

    json_object_foreach(vulns, key, v)
    {
        const char *sev = json_string_value(json_object_get(v, "severity"));

        if (json_object_size(packages) >= NPM_AUDIT_MAX_PACKAGES)
            break;
        if (sev)
            (void)json_object_set_new(packages, key, json_string(sev));
    }
    json_object_foreach(advisories, key, v)
    {
        const char *name = json_string_value(json_object_get(v, "module_name"));
        const char *sev = json_string_value(json_object_get(v, "severity"));
        json_t *had;

        if (json_object_size(packages) >= NPM_AUDIT_MAX_PACKAGES)
            break;
        if (!name || !sev)
            continue;
        had = json_object_get(packages, name); /* keep the worst of a package's advisories */
        if (had && level_of(json_string_value(had)) >= level_of(sev))
            continue;
        (void)json_object_set_new(packages, name, json_string(sev));
    }
}

static int counts_read(json_t *counts, struct npm_audit *a, struct err *err)
{
    json_t *total;

    if (!json_is_object(counts))
        return err_set(err, -EINVAL,
                       "npm audit output has no metadata.vulnerabilities: not an audit report");
    *a = (struct npm_audit){0};
    for (int level = NPM_AUDIT_INFO; level <= NPM_AUDIT_CRITICAL; level++) {
        json_t *n = json_object_get(counts, level_names[level]);

        if (!n) /* npm 6 may leave out a level with nothing */
            continue;
        if (!json_is_integer(n) || json_integer_value(n) < 0)
            return err_set(err, -EINVAL,
                           "npm audit output: metadata.vulnerabilities.%s must be a count",
                           level_names[level]);
        a->count[level] = json_integer_value(n);
        a->total += a->count[level];
    }
    total = json_object_get(counts, "total");
    if (json_is_integer(total) && json_integer_value(total) >= a->total)
        a->total = json_integer_value(total);
    return 0;
}

static json_t *result_build(json_t *root, const struct npm_audit *a)
{
    json_t *deps = json_object_get(json_object_get(root, "metadata"), "dependencies");
    json_t *result = json_object();
    json_t *vulns = json_object(), *packages = json_object(); /* borrowed from `result` */

    (void)json_object_set_new(result, "parser", json_string("npm-audit"));
    (void)json_object_set_new(result, "vulnerabilities", vulns);
    (void)json_object_set_new(result, "packages", packages);
    for (int level = NPM_AUDIT_INFO; level <= NPM_AUDIT_CRITICAL; level++)
        (void)json_object_set_new(vulns, level_names[level], json_integer(a->count[level]));
    (void)json_object_set_new(vulns, "total", json_integer(a->total));
    packages_fill(root, packages);
    if (json_is_object(deps)) /* npm 7+: {prod, dev, ..., total}; npm 6: a number */
        deps = json_object_get(deps, "total");
    if (json_is_integer(deps))
        (void)json_object_set(result, "dependencies", deps);
    return result;
}

int npm_audit_parse(const char *text, size_t len, struct npm_audit *ret, json_t **ret_result,
                    struct err *err)
{
    struct npm_audit a;
    json_error_t jerr;
    json_t *root, *result;
    int r;

    root = json_loadb(text, len, 0, &jerr);
    if (!root)
        return err_set(err, -EINVAL, "npm audit output is not JSON: %s (line %d)", jerr.text,
                       jerr.line);
    if (!json_is_object(root)) {
        json_decref(root);
        return err_set(err, -EINVAL, "npm audit output is not a JSON object");
    }
    if (json_is_object(json_object_get(root, "error"))) {
        r = error_report(json_object_get(root, "error"), err);
        json_decref(root);
        return r;
    }
    r = counts_read(json_object_get(json_object_get(root, "metadata"), "vulnerabilities"), &a, err);
    if (r < 0) {
        json_decref(root);
        return r;
    }
    result = result_build(root, &a);
    json_decref(root);
    *ret = a;
    *ret_result = result;
    return 0;
}

int npm_audit_worst(const struct npm_audit *a)
{
    for (int level = NPM_AUDIT_CRITICAL; level >= NPM_AUDIT_INFO; level--)
        if (a->count[level] > 0)
            return level;
    return 0;
}

void npm_audit_summary(const struct npm_audit *a, int from, char *buf, size_t size)
{
    size_t n = 0;

    buf[0] = '\0';
    for (int level = from > 0 ? from : 1; level <= NPM_AUDIT_CRITICAL; level++) {
        int w;

        if (a->count[level] == 0)
            continue;
        w = snprintf(buf + n, size - n, "%s%lld %s", n ? ", " : "", a->count[level],
                     level_names[level]);
        if (w < 0 || (size_t)w >= size - n)
            return;
        n += (size_t)w;
    }
    if (n == 0)
        (void)snprintf(buf, size, "none");
}
