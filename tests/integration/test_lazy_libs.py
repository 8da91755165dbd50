"""libcurl and libpq are loaded at their first use (lib/lazy.h), not at start: an idle
process without a database maps neither (nor the ~45 libraries they pull in); the first
transfer loads libcurl, a database libpq; a library that cannot be loaded is a clear error
and loses no job."""
import os
import subprocess

from conftest import NEXUSD, find_in_zset, push, run_cmd, wait_for
from http_peer import Peer

# what libcurl and libpq pull in besides themselves (Debian 12's builds)
THEIR_DEPENDENCIES = ("libkrb5", "libgssapi_krb5", "libldap", "libssh2", "libnghttp2", "librtmp")


def mapped(pid):
    """The shared libraries the process has mapped, by file name."""
    with open("/proc/%d/maps" % pid) as f:
        return {os.path.basename(line.split()[5]) for line in f
                if len(line.split()) > 5 and ".so" in line.split()[5]}


def has(libs, prefix):
    return any(lib.startswith(prefix) for lib in libs)


def fake_library(workdir, soname):
    """A shared library of that name that defines none of the real one's functions (as an
    older or broken build would), in a folder of its own for LD_LIBRARY_PATH."""
    folder = os.path.join(workdir, "fake-" + soname)
    os.makedirs(folder)
    src = os.path.join(folder, "empty.c")
    with open(src, "w") as f:
        f.write("int nexus_fake_library_marker;\n")
    subprocess.run(["cc", "-shared", "-fPIC", "-Wl,-soname," + soname, "-o",
                    os.path.join(folder, soname), src], check=True)
    return folder


def hook_class(url):
    return {"name": "app.hook", "url": url + "/hook", "secret_env": "NEXUS_TEST_HOOK_SECRET"}


def test_an_idle_process_maps_neither_library(nexusd, r):
    d = nexusd()
    d.wait_jobs([push(r, "noop", [])])
    libs = mapped(d.pid)
    assert not has(libs, "libcurl") and not has(libs, "libpq"), sorted(libs)
    assert not [lib for lib in libs if lib.startswith(THEIR_DEPENDENCIES)], sorted(libs)


def test_the_first_transfer_loads_libcurl(nexusd, r):
    peer = Peer()
    try:
        d = nexusd(classes=[hook_class(peer.url)], env={"NEXUS_TEST_HOOK_SECRET": "s"})
        d.wait_jobs([push(r, "noop", [])])
        assert not has(mapped(d.pid), "libcurl")
        d.wait_jobs([push(r, "app.hook", [1])])
        assert peer.count() == 1
        libs = mapped(d.pid)
        assert has(libs, "libcurl.so.4") and not has(libs, "libpq"), sorted(libs)
        d.wait_jobs([push(r, "app.hook", [2])])  # loaded once, used again
        assert peer.count() == 2
    finally:
        peer.close()


def test_a_database_loads_libpq(nexusd, r, migrated_pg):
    d = nexusd(env={"DATABASE_URL": migrated_pg.url})
    d.wait_jobs([push(r, "noop", [])])
    libs = mapped(d.pid)
    assert has(libs, "libpq.so.5") and not has(libs, "libcurl"), sorted(libs)


def test_a_libcurl_that_cannot_serve_fails_the_job_clearly_and_keeps_it(nexusd, r, workdir):
    peer = Peer()
    try:
        fake = fake_library(workdir, "libcurl.so.4")
        d = nexusd(classes=[hook_class(peer.url)],
                   env={"NEXUS_TEST_HOOK_SECRET": "s", "LD_LIBRARY_PATH": fake})
        jid = push(r, "app.hook", [1], retry=3)
        e = d.wait_jobs([jid], outcome="retry")[jid]
        assert e["error_class"] == "NexusTransferError", e
        job, _ = wait_for(lambda: find_in_zset(r, "retry", jid), what="the job in retry")
        assert job["error_message"] == ("cannot make an HTTP transfer: libcurl.so.4 has no "
                                        "curl_easy_cleanup (too old a version?)"), job
        assert peer.count() == 0
        d.wait_jobs([push(r, "noop", [])])  # the process goes on
        d.assert_alive()
    finally:
        peer.close()


def test_a_libpq_that_cannot_serve_is_a_clear_error(nexusd, workdir, migrated_pg):
    fake = fake_library(workdir, "libpq.so.5")
    env = {"DATABASE_URL": migrated_pg.url, "LD_LIBRARY_PATH": fake}
    why = "PostgreSQL's client library is missing: libpq.so.5 has no PQclear (too old a version?)"
    res = run_cmd([NEXUSD, "migrate"], env=env)
    assert res.returncode != 0 and why in res.stderr, res.stderr
    assert "fatal" not in res.stderr and "Abort" not in res.stderr, res.stderr
    d = nexusd(env=env, start=False).start(wait_ready=False)
    assert d.wait_exit(15) == 1
    assert d.lines(event="start_failed")[0]["err"] == why
