#!/usr/bin/python3
"""bench_email.py - email.send jobs against a local SMTP sink: jobs/s at a chosen concurrency.

Each run, against a private redis-server, a private PostgreSQL (initdb into /tmp, nexusd's
migrations applied) and an aiosmtpd server on 127.0.0.1 (in this process, run in a thread,
accepting every message): N email.send jobs (text + HTML, two recipients) are preloaded,
one nexusd drains them, and the rate counts from the first finished job to the last. Every
job goes the whole way: MIME built, delivery row claimed in nexus.email_deliveries, SMTP
exchange (connection, EHLO, MAIL, RCPT x2, DATA, QUIT), 'sent' recorded. The run checks that
the sink received exactly N messages and that N rows say 'sent'. Medians of --runs runs.
Usage: bench/bench_email.py [--nexusd build/nexusd] [--jobs 5000] [--runs 3]
                            [--concurrency 50]
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
sys.path.insert(0, HERE)

from bench import check_none_failed, cpu_seconds, drain_rate, preload, start_nexusd  # noqa: E402,E501
from bench import start_redis, stop  # noqa: E402
from bench_pg import start_pg  # noqa: E402
from smtp_peer import SmtpPeer  # noqa: E402

TEXT = "Hello,\n\nThank you for your order of the Launch Checklist.\n\n-- \nNexus Sales\n"
HTML = "<p>Hello,</p><p>Thank you for your order of the <b>Launch Checklist</b>.</p>"


def run_once(args, r, sock, tmp, pg, peer):
    pg.psql("TRUNCATE nexus.email_deliveries, nexus.job_history")
    with peer.lock:
        peer.messages.clear()
    preload(r, args.jobs, "email.send",
            lambda k: [{"to": ["buyer%d@example.com" % k, "Shop <shop@example.com>"],
                        "subject": "Your receipt #%d" % k, "text": TEXT, "html": HTML}])
    proc, log = start_nexusd(args.nexusd, sock, tmp, "warn", args.concurrency,
                             'smtp = { url = "%s"; starttls = "never"; };\n' % peer.url,
                             {"DATABASE_URL": pg.url})
    mine = os.times()
    rate = drain_rate(r, args.jobs, proc, 600)
    cpu = (cpu_seconds(proc.pid), sum(os.times()[:2]) - sum(mine[:2]))
    stop(proc)
    log.close()
    check_none_failed(r, log)
    sent = int(pg.psql("SELECT count(*) FROM nexus.email_deliveries WHERE status = 'sent'"))
    if peer.count() != args.jobs or sent != args.jobs:
        raise RuntimeError("%d messages received, %d rows sent, for %d jobs; see %s"
                           % (peer.count(), sent, args.jobs, log.name))
    return rate, cpu


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nexusd", default="build/nexusd")
    ap.add_argument("--jobs", type=int, default=5000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=50)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="nexus-bench-")
    rproc, sock, r = start_redis(tmp)
    pg = start_pg(args.nexusd)
    peer = SmtpPeer().start()
    try:
        rates, nexusd_cpu, sink_cpu = [], [], []
        for i in range(args.runs):
            rate, (ncpu, scpu) = run_once(args, r, sock, tmp, pg, peer)
            rates.append(rate)
            nexusd_cpu.append(ncpu * 1000 / args.jobs)
            sink_cpu.append(scpu * 1000 / args.jobs)
            print("run %d: %.0f jobs/s; CPU ms per job: nexusd %.3f, SMTP sink (this "
                  "process) %.3f" % (i + 1, rate, nexusd_cpu[-1], sink_cpu[-1]), flush=True)
        print("median of %d runs (%d email.send jobs each, concurrency %d): %.0f jobs/s; "
              "CPU ms per job: nexusd %.3f, SMTP sink %.3f"
              % (args.runs, args.jobs, args.concurrency, statistics.median(rates),
                 statistics.median(nexusd_cpu), statistics.median(sink_cpu)))
    finally:
        peer.stop()
        pg.cleanup()
        rproc.terminate()
        rproc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
