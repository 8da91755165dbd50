"""redis.url read by one parser: what `nexusd -t` passes, nexusd and nexusctl connect to,
and what the connections would refuse, the check refuses with the file and line."""
import os
import socket

import pytest

from conftest import NEXUSCTL, NEXUSD, push, run_cmd


def ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def free_port_v6():
    with socket.socket(socket.AF_INET6) as s:
        s.bind(("::1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback here")
def test_ipv6_host_serves_nexusd_and_nexusctl(nexusd, redis_server, r):
    """redis://[::1]:PORT passed the check, then nexusd refused it at start ("port must be
    1..65535": the connection's parser split the host at its first ':')."""
    port = free_port_v6()
    r.config_set("bind", "::1")
    r.config_set("port", port)  # the same server also listens on [::1]:PORT now
    url = "redis://[::1]:%d/0" % port
    n = nexusd(env={"REDIS_URL": url})
    n.wait_jobs([push(r, "noop", [])])
    assert any("[::1]:%d" % port in line for line in n.text().splitlines()
               if "event=redis_up" in line), n.tail()
    res = run_cmd([NEXUSCTL, "stats"], env={"REDIS_URL": url})
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("processed  1"), res.stdout


def test_check_refuses_a_database_the_connection_refuses(workdir):
    """`nexusd -t` passed redis://h/5000, which nexusd then refused at start."""
    conf = os.path.join(workdir, "bad.conf")
    with open(conf, "w") as f:
        f.write('redis = {\n  url = "redis://h/5000";\n};\n')
    res = run_cmd([NEXUSD, "-t", "-c", conf])
    assert res.returncode == 2, res.stdout + res.stderr
    assert res.stderr == (
        "nexusd: %s:2: redis.url must be redis[s]://[[user]:password@]host[:port][/db] or "
        "unix:///path[?db=N] (got \"redis://h/5000\"): database must be a number 0..1000\n"
        % conf)
