/* cfg_fuzz.c - libFuzzer target: any file text either loads or fails with a sentence. */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/cfg.h"
#include "lib/err.h"

static const char *fuzz_env(const char *name)
{
    return NULL;
}

/* libconfig's @include reads any file ("/dev/stdin" would block): not our parser's input. */
static int has_include(const uint8_t *data, size_t size)
{
    static const char word[] = "include";

    for (size_t i = 0; i + sizeof(word) - 1 <= size; i++)
        if (strncasecmp((const char *)data + i, word, sizeof(word) - 1) == 0)
            return 1;
    return 0;
}

static char path[] = "/tmp/cfg_fuzz_XXXXXX";

/* libconfig 1.5 leaks a string token on some syntax errors (hyperrealm/libconfig#142, fixed
 * in 1.7.3): not ours to find. Leaks of our own allocations are still reported. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_options(void);

const char *__lsan_default_suppressions(void)
{
    return "leak:libconfig.so\n";
}

const char *__lsan_default_options(void)
{
    return "print_suppressions=0";
}

static void fuzz_cleanup(void)
{
    (void)unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fd = -1;
    struct err err = {0};
    struct cfg *cfg = NULL;
    int r;

    if (has_include(data, size))
        return 0;
    if (fd < 0) {
        fd = mkstemp(path);
        assert(fd >= 0);
        (void)atexit(fuzz_cleanup);
    }
    if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
        abort();
    r = cfg_load(path, fuzz_env, &cfg, &err);
    if (r == 0) {
        assert(cfg && cfg->nqueues >= 1 && cfg->redis_url);
        for (size_t i = 0; i < cfg->nclasses; i++)
            assert(cfg_class_find(cfg, cfg->classes[i].name) == &cfg->classes[i]);
        cfg_free(cfg);
    } else {
        assert(!cfg && err.code == r && err.msg[0] != '\0');
        assert(r == -EINVAL || r == -ENOMEM);
    }
    return 0;
}
