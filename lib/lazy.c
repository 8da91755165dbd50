/* lazy.c - shared libraries loaded at their first use. */
#include "lib/lazy.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* dlsym()'s object pointer as a function pointer: POSIX guarantees they convert. */
_Static_assert(sizeof(void *) == sizeof(lazy_fn *), "function pointers fit a void *");

static int load(struct lazy_lib *lib)
{
    void *handle;
    size_t i;

    /* RTLD_LOCAL: the library's symbols serve only this table (our own definitions of its
     * names stay the ones our code calls); never closed, as a linked library */
    handle = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        (void)snprintf(lib->why, sizeof(lib->why), "cannot load %s: %s", lib->soname, dlerror());
        return -ENOENT;
    }
    for (i = 0; i < lib->n; i++) {
        void *sym = dlsym(handle, lib->names[i]);

        if (!sym) {
            (void)snprintf(lib->why, sizeof(lib->why), "%s has no %s (too old a version?)",
                           lib->soname, lib->names[i]);
            (void)dlclose(handle);
            return -ENOENT;
        }
        memcpy(&lib->fns[i], &sym, sizeof(sym));
    }
    lib->loaded = 1;
    return 0;
}

int lazy_load(struct lazy_lib *lib, const char **ret_why)
{
    int r = lib->loaded ? 0 : load(lib);

    if (r < 0 && ret_why)
        *ret_why = lib->why;
    return r;
}

lazy_fn *lazy_get(struct lazy_lib *lib, size_t i)
{
    if (lazy_load(lib, NULL) < 0) {
        (void)fprintf(stderr, "fatal: %s\n", lib->why);
        abort();
    }
    return lib->fns[i];
}
