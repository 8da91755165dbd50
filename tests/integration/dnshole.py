"""A nameserver that never answers, for one process: a UDP socket on 127.0.0.1:53 that reads
and keeps quiet, and a wrapper command that bind-mounts a resolv.conf naming it over
/etc/resolv.conf in a private mount namespace (unshare -m), so that only the wrapped process
sees it.

    with silent_nameserver(workdir, timeout_s=3) as wrapper:
        n = nexusd(..., start=False)
        n.wrapper = wrapper
        n.start(wait_ready=False)

Skips the test where that cannot be had: not root, no unshare, mount namespaces refused, or
127.0.0.1:53 taken."""
import contextlib
import os
import shutil
import socket
import subprocess

import pytest


@contextlib.contextmanager
def silent_nameserver(workdir, timeout_s=5):
    """Yields the wrapper (the command to put before the process's own); each lookup through
    it waits `timeout_s` for an answer that never comes (one attempt)."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare for a private /etc/resolv.conf")
    if subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode != 0:
        pytest.skip("mount namespaces are not allowed here")
    dns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        dns.bind(("127.0.0.1", 53))
    except OSError:
        dns.close()
        pytest.skip("127.0.0.1:53 is taken")
    resolv = os.path.join(workdir, "resolv.conf")
    with open(resolv, "w") as f:
        f.write("nameserver 127.0.0.1\noptions timeout:%d attempts:1\n" % timeout_s)
    try:
        yield ["unshare", "-m", "sh", "-c",
               'mount --bind "%s" /etc/resolv.conf && exec "$0" "$@"' % resolv]
    finally:
        dns.close()
