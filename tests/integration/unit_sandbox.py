"""Runs a program under the restrictions of packaging/nexusd.service that can be had without
systemd as PID 1, so that a test can see nexusd (and node) work inside them:

- SystemCallFilter=@system-service, SystemCallFilter=~@privileged @resources and
  SystemCallErrorNumber=EPERM: a seccomp filter built with libseccomp from the groups as
  `systemd-analyze syscall-filter` lists them; every other call fails with EPERM;
- MemoryDenyWriteExecute=yes (unless --allow-wx, as packaging/commands.conf): mmap() of
  memory both writable and executable and mprotect()/pkey_mprotect() to executable fail,
  as systemd's own filter makes them;
- ProcSubset=pid and ProtectProc=invisible: /proc mounted again in a mount namespace of its
  own with subset=pid,hidepid=invisible (unless --proc-all, as packaging/commands.conf);
- NoNewPrivileges=yes (libseccomp sets it).

    python3 unit_sandbox.py [--allow-wx] [--proc-all] [--extra=a,b] -- PROGRAM ARGS...

Needs root (mount namespace) and libseccomp.so.2; the program runs as the caller's user.
`allowed_syscalls()` is the filter's allow list, for tests that compare with strace.
"""
import ctypes
import ctypes.util
import os
import subprocess
import sys

UNIT_ALLOW = ["@system-service"]
UNIT_DENY = ["@privileged", "@resources"]

SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_ACT_ERRNO_EPERM = 0x00050000 | 1
SCMP_CMP_MASKED_EQ = 7
PROT_WRITE, PROT_EXEC = 0x2, 0x4
CLONE_NEWNS = 0x00020000
MS_REC, MS_PRIVATE = 0x4000, 0x40000


def syscall_groups():
    """{"@group": [members]} as systemd-analyze lists them (members may be groups)."""
    out = subprocess.run(["systemd-analyze", "syscall-filter"], capture_output=True, text=True,
                         check=True).stdout
    groups, cur = {}, None
    for line in out.splitlines():
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        if not line[0].isspace():
            cur = groups.setdefault(s, [])
        elif cur is not None:
            cur.append(s)
    return groups


def expand(groups, names):
    out = set()
    for name in names:
        if name.startswith("@"):
            out |= expand(groups, groups.get(name, []))
        else:
            out.add(name)
    return out


def allowed_syscalls(extra=()):
    groups = syscall_groups()
    return (expand(groups, UNIT_ALLOW) - expand(groups, UNIT_DENY)) | expand(groups, extra)


class ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64),
                ("datum_b", ctypes.c_uint64)]


def _seccomp():
    lib = ctypes.CDLL(ctypes.util.find_library("seccomp") or "libseccomp.so.2", use_errno=True)
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                                           ctypes.c_uint, ctypes.POINTER(ArgCmp)]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    return lib


def load_filters(allow, allow_wx):
    lib = _seccomp()
    # MemoryDenyWriteExecute first: the allow list below denies seccomp() itself. Two filters,
    # as systemd loads them: the kernel applies the stricter answer.
    if not allow_wx:
        ctx = lib.seccomp_init(SCMP_ACT_ALLOW)
        rules = [("mmap", 2, PROT_WRITE | PROT_EXEC, PROT_WRITE | PROT_EXEC),
                 ("mprotect", 2, PROT_EXEC, PROT_EXEC),
                 ("pkey_mprotect", 2, PROT_EXEC, PROT_EXEC)]
        for name, arg, mask, value in rules:
            cmp = ArgCmp(arg, SCMP_CMP_MASKED_EQ, mask, value)
            nr = lib.seccomp_syscall_resolve_name(name.encode())
            assert lib.seccomp_rule_add_array(ctx, SCMP_ACT_ERRNO_EPERM, nr, 1,
                                              ctypes.byref(cmp)) == 0, name
        assert lib.seccomp_load(ctx) == 0, "seccomp_load (W^X)"
    # the allow list: every call not in it fails with EPERM
    ctx = lib.seccomp_init(SCMP_ACT_ERRNO_EPERM)
    for name in sorted(allow):
        nr = lib.seccomp_syscall_resolve_name(name.encode())
        if nr >= 0:  # names of other architectures resolve to a negative number
            assert lib.seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, nr, 0, None) == 0, name
    assert lib.seccomp_load(ctx) == 0, "seccomp_load"


def private_proc():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
    if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        raise OSError(ctypes.get_errno(), "mount --make-rprivate /")
    if libc.mount(b"proc", b"/proc", b"proc", 0, b"subset=pid,hidepid=invisible") != 0:
        raise OSError(ctypes.get_errno(), "mount proc subset=pid")


def main(argv):
    allow_wx = proc_all = False
    extra = []
    while argv and argv[0] != "--":
        opt = argv.pop(0)
        if opt == "--allow-wx":
            allow_wx = True
        elif opt == "--proc-all":
            proc_all = True
        elif opt.startswith("--extra="):
            extra += [x for x in opt[len("--extra="):].split(",") if x]
        else:
            sys.exit("unit_sandbox: unknown option " + opt)
    if not argv[1:]:
        sys.exit("usage: unit_sandbox.py [--allow-wx] [--proc-all] [--extra=a,b] -- PROGRAM ...")
    allow = allowed_syscalls(extra)
    if not proc_all:
        private_proc()
    load_filters(allow, allow_wx)
    os.execvp(argv[1], argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
