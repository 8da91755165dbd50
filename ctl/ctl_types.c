/* ctl_types.c - nexusctl types: a TypeScript declaration of every job class the configuration
 * runs and its args, for @nexusd/client's Client<NexusJobs>. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "conf/cfg.h"
#include "ctl/ctl.h"
#include "jobs/classes.h"
#include "jobs/registry.h"
#include "lib/err.h"

/* Each argument type as TypeScript; a type missing here is written as `unknown`. */
static const char *const ts_types[] = {
    [CLASS_ARG_ANY] = "unknown",
    [CLASS_ARG_STRING] = "string",
    [CLASS_ARG_UUID] = "string",
    [CLASS_ARG_NUMBER] = "number",
    [CLASS_ARG_INTEGER] = "number",
    [CLASS_ARG_BOOLEAN] = "boolean",
    [CLASS_ARG_OBJECT] = "object", /* an interface of the app's is one; an index type is not */
    [CLASS_ARG_ARRAY] = "readonly unknown[]",
    [CLASS_ARG_TIME] = "string | number",
    [CLASS_ARG_REF] = "string | number | null",
};

static const char *ts_type(enum class_arg_type type)
{
    size_t i = (size_t)type;

    return i < sizeof(ts_types) / sizeof(ts_types[0]) && ts_types[i] ? ts_types[i] : "unknown";
}

/* `"name": readonly [a: T, b?: U];` for one class: the name as a JSON string, which is a
 * TypeScript string literal whatever it holds (dots, dashes, quotes). */
static void class_write(FILE *out, const struct class_info *c)
{
    json_t *name = json_string(c->name);
    char *quoted = name ? json_dumps(name, JSON_ENCODE_ANY) : NULL;

    json_decref(name);
    if (!quoted) /* not UTF-8: no job could name it either */
        return;
    fprintf(out, "  /** %s class */\n  %s: ", c->kind, quoted);
    free(quoted);
    if (!c->args) {
        fprintf(out, "readonly unknown[];\n");
        return;
    }
    fprintf(out, "readonly [");
    for (unsigned i = 0; i < c->nargs; i++)
        fprintf(out, "%s%s%s: %s", i ? ", " : "", c->args[i].name, c->args[i].optional ? "?" : "",
                ts_type(c->args[i].type));
    fprintf(out, "];\n");
}

static void types_write(FILE *out, const struct cfg *cfg, const struct classes *cl)
{
    fprintf(out,
            "// Each job class nexusd runs and its args, written by `nexusctl types` from\n"
            "// %s: write it again rather than edit it.\n"
            "// Use: new Client<NexusJobs>({ redis }) of @nexusd/client.\n"
            "export type NexusJobs = {\n",
            cfg->path ? cfg->path : "the default configuration");
    for (size_t i = 0; i < classes_count(cl); i++)
        class_write(out, classes_get(cl, i));
    fprintf(out, "};\n");
}

static int types_run(struct ctl *ctl, int argc, char **argv, struct err *err)
{
    const char *path = NULL;
    const struct ctl_opt opts[] = {{"output", true, &path, NULL, 'o'}};
    const struct cfg *cfg;
    struct classes *cl;
    FILE *out = stdout;
    int r;

    r = ctl_parse_args(ctl, argc, argv, opts, 1, NULL, 0, err);
    if (r != 0)
        return r;
    cfg = ctl_cfg(ctl, err);
    if (!cfg)
        return err->code;
    if (path && !(out = fopen(path, "we"))) /* -EIO: a runtime error (-ENOENT would say 3) */
        return err_set(err, -EIO, "cannot write %s: %s", path, strerror(errno));
    cl = classes_new(cfg);
    types_write(out, cfg, cl);
    classes_free(cl);
    if (out != stdout && fclose(out) != 0)
        return err_set(err, -EIO, "cannot write %s: %s", path, strerror(errno));
    return 0;
}

const struct ctl_command ctl_cmd_types = {
    .name = "types",
    .args = "[-o FILE]",
    .summary = "write a TypeScript declaration of the job classes and their args",
    .help = "Writes a TypeScript declaration (.d.ts) of every job class the configuration runs,\n"
            "built in or declared (sql, http, command classes), each with its args as a tuple:\n"
            "\n"
            "  export type NexusJobs = { \"email.welcome\": readonly [userId: number, ...]; ... };\n"
            "\n"
            "With @nexusd/client, new Client<NexusJobs>({ redis }) then checks each\n"
            "enqueue's class and args at compile time. A class whose args are not declared\n"
            "(http and command classes, noop) takes any array.\n"
            "\n"
            "  -o, --output FILE   write it to FILE instead of stdout\n",
    .json = false,
    .run = types_run,
};
