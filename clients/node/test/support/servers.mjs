// servers.mjs - a private redis-server, nexusd and PostgreSQL for one test file, as the
// project's integration tests start them (tests/integration/conftest.py and pg.py): each in
// a temporary directory, killed and removed at the end, pass or fail.
//
// NEXUSD names the nexusd binary (default ../../build/nexusd from clients/node).

import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const NEXUSD =
  process.env.NEXUSD || path.resolve(HERE, "..", "..", "..", "..", "build", "nexusd");
const AS_ROOT = process.getuid?.() === 0;
const PG_USER = "postgres";
const SANITIZER_MARKS = ["ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer"];

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `cond` (may be async) until it returns a true value, which is returned. */
export async function waitFor(cond, { timeout = 10000, interval = 20, what = "condition" } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await cond();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await sleep(interval);
  }
}

/** A temporary directory under /tmp (short: unix socket paths must fit in 107 bytes),
 * readable by PostgreSQL's user. */
export function tempDir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nxnode-"));
  fs.chmodSync(dir, 0o755);
  return dir;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function pingUnix(sock) {
  return new Promise((resolve) => {
    const c = net.createConnection(sock);
    let got = "";
    c.once("error", () => resolve(false));
    c.on("data", (d) => {
      got += d;
      if (got.includes("\r\n")) {
        c.destroy();
        resolve(got.startsWith("+PONG"));
      }
    });
    c.once("connect", () => c.write("PING\r\n"));
  });
}

function spawnLogged(cmd, args, logfile, env) {
  const fd = fs.openSync(logfile, "a");
  const proc = spawn(cmd, args, { stdio: ["ignore", fd, fd], env: env ?? process.env });
  fs.closeSync(fd);
  proc.exited = new Promise((resolve) =>
    proc.once("exit", (code, signal) => resolve({ code, signal })),
  );
  return proc;
}

async function stopProc(proc, timeoutMs = 5000) {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
  proc.kill("SIGTERM");
  const done = await Promise.race([proc.exited, sleep(timeoutMs).then(() => null)]);
  if (!done) {
    proc.kill("SIGKILL");
    await proc.exited;
  }
}

/** redis-server on a unix socket in `dir` (no TCP port); with `tls` ({ cert, key, ca }:
 * file paths) also TLS on a free port of 127.0.0.1, whose rediss:// URL is `tlsUrl`. */
export async function startRedis(dir, { tls } = {}) {
  const sock = path.join(dir, "redis.sock");
  const args = [
    "--port",
    "0",
    "--unixsocket",
    sock,
    "--dir",
    dir,
    "--save",
    "",
    "--appendonly",
    "no",
  ];
  const tlsPort = tls ? await freePort() : 0;
  if (tls)
    args.push(
      ...["--tls-port", String(tlsPort), "--bind", "127.0.0.1", "--tls-cert-file", tls.cert],
      ...["--tls-key-file", tls.key, "--tls-ca-cert-file", tls.ca, "--tls-auth-clients", "no"],
    );
  const proc = spawnLogged("redis-server", args, path.join(dir, "redis.log"));
  await waitFor(
    async () => {
      if (proc.exitCode !== null)
        throw new Error(
          "redis-server exited: " + fs.readFileSync(path.join(dir, "redis.log"), "utf8"),
        );
      return pingUnix(sock);
    },
    { what: "redis-server to answer" },
  );
  return {
    sock,
    url: "unix://" + sock,
    tlsPort,
    tlsUrl: tls ? `rediss://127.0.0.1:${tlsPort}` : undefined,
    stop: () => stopProc(proc),
  };
}

/** Ends a test file's servers whatever fails on the way: the `close` functions in order (its
 * clients' quit(), a stand-in's stop()), nexusd, then the servers (PostgreSQL, redis-server),
 * then the directory. */
export async function teardown({ close = [], nexusd, servers = [], dir }) {
  try {
    for (const fn of close) await fn();
    await nexusd?.stop();
  } finally {
    for (const s of servers) await s?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** A logfmt line as an object of strings. */
export function parseLogfmt(line) {
  const out = {};
  for (const m of line.matchAll(/([A-Za-z0-9_.]+)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
    let v = m[2];
    if (v.length >= 2 && v.startsWith('"') && v.endsWith('"'))
      v = v.slice(1, -1).replace(/\\(.)/g, "$1");
    out[m[1]] = v;
  }
  return out;
}

/** nexusd with a small configuration (the integration tests' short intervals) reading
 * `queues`, its Redis keys under `namespace`, logging into dir/NAME.log. `env` adds to its
 * environment (DATABASE_URL); `url` is the Redis URL (default redis.url) and `redisSettings`
 * more settings of its redis group (e.g. tls_ca_file). */
export async function startNexusd(
  dir,
  redis,
  {
    name = "nexusd",
    queues = ["default"],
    namespace = "",
    env = {},
    url = redis.url,
    redisSettings = {},
  } = {},
) {
  const conf = path.join(dir, name + ".conf");
  const logfile = path.join(dir, name + ".log");
  fs.writeFileSync(
    conf,
    [
      "worker = { concurrency = 10; queues = ( " +
        queues.map((q) => JSON.stringify(q)).join(", ") +
        " );",
      '  shutdown_timeout = "2s"; heartbeat_interval = "0.2s"; process_ttl = "1s";',
      '  poll_interval = "0.1s"; block_timeout = "1s"; };',
      "classes = ( );",
      `redis = { namespace = ${JSON.stringify(namespace)}; ` +
        Object.entries(redisSettings)
          .map(([k, v]) => `${k} = ${JSON.stringify(v)}; `)
          .join("") +
        "};",
      `http = { listen = ${JSON.stringify("unix:" + path.join(dir, name + ".http"))}; };`,
      "",
    ].join("\n"),
  );
  const e = { ASAN_OPTIONS: "detect_leaks=1", ...process.env, REDIS_URL: url, ...env };
  if (!("DATABASE_URL" in env)) delete e.DATABASE_URL;
  delete e.DATABASE_POOL_URL;
  const proc = spawnLogged(NEXUSD, ["-c", conf], logfile, e);
  const d = {
    logfile,
    text: () => (fs.existsSync(logfile) ? fs.readFileSync(logfile, "utf8") : ""),
    /** Parsed whole log lines whose fields equal every one of `match`. */
    lines(match = {}) {
      const text = d.text();
      return text
        .slice(0, text.lastIndexOf("\n") + 1)
        .split("\n")
        .filter((l) => l.startsWith("ts="))
        .map(parseLogfmt)
        .filter((e) => Object.entries(match).every(([k, v]) => e[k] === String(v)));
    },
    assertAlive() {
      if (proc.exitCode !== null || proc.signalCode !== null)
        throw new Error(
          `${name} exited (${proc.exitCode ?? proc.signalCode}); log:\n${d.text().slice(-3000)}`,
        );
    },
    async waitLog(regex, timeout = 10000) {
      return waitFor(
        () => {
          d.assertAlive();
          return d
            .text()
            .split("\n")
            .find((l) => regex.test(l));
        },
        { timeout, what: `${name} to log ${regex}` },
      );
    },
    /** Waits until every jid has an event=job line with `outcome`; returns {jid: line}. */
    async waitJobs(jids, { outcome = "ok", timeout = 20000 } = {}) {
      return waitFor(
        () => {
          d.assertAlive();
          const seen = {};
          for (const e of d.lines({ event: "job", outcome }))
            if (jids.includes(e.jid)) seen[e.jid] = e;
          return Object.keys(seen).length === jids.length ? seen : null;
        },
        { timeout, what: `${jids.length} jobs to finish with outcome=${outcome} in ${logfile}` },
      );
    },
    /** Stops it (SIGTERM, then SIGKILL after 5 s); throws when a sanitizer reported
     * anything in its log (a test run against an ASan/UBSan build). */
    async stop() {
      await stopProc(proc);
      const marks = SANITIZER_MARKS.filter((m) => d.text().includes(m));
      if (marks.length)
        throw new Error(
          `${name}: sanitizer reports (${marks.join(", ")}); log:\n${d.text().slice(-5000)}`,
        );
    },
  };
  await d.waitLog(/event=redis_up conn=main/, 20000);
  return d;
}

/** The epoch seconds of a log line's ts=. */
export function logTime(entry) {
  return Date.parse(entry.ts) / 1000;
}

/** The newest PostgreSQL's bin directory under /usr/lib/postgresql, or null. */
export function pgBindir() {
  const root = "/usr/lib/postgresql";
  if (!fs.existsSync(root)) return null;
  const dirs = fs
    .readdirSync(root)
    .filter((v) => fs.existsSync(path.join(root, v, "bin", "initdb")))
    .sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a));
  return dirs.length ? path.join(root, dirs[0], "bin") : null;
}

function pgRun(bindir, dir, args) {
  const cmd = [path.join(bindir, args[0]), ...args.slice(1)];
  const full = AS_ROOT ? ["runuser", "-u", PG_USER, "--", ...cmd] : cmd;
  const res = spawnSync(full[0], full.slice(1), { cwd: dir, encoding: "utf8", timeout: 120000 });
  if (res.status !== 0) throw new Error(`${args.join(" ")} failed: ${res.stdout}${res.stderr}`);
  return res.stdout;
}

/** A private PostgreSQL (trust auth, fsync off) on 127.0.0.1, its schema migrated by
 * `nexusd migrate`. Runs as the postgres user when the tests run as root. */
export async function startPostgres(dir) {
  const bindir = pgBindir();
  const pgdir = path.join(dir, "pg");
  fs.mkdirSync(pgdir, { mode: 0o755 });
  if (AS_ROOT) {
    const id = spawnSync("id", ["-u", PG_USER], { encoding: "utf8" });
    const gid = spawnSync("id", ["-g", PG_USER], { encoding: "utf8" });
    fs.chownSync(pgdir, Number(id.stdout), Number(gid.stdout));
  }
  const data = path.join(pgdir, "data");
  const port = await freePort();
  pgRun(bindir, pgdir, [
    "initdb",
    "-D",
    data,
    "-A",
    "trust",
    "-U",
    PG_USER,
    "-E",
    "UTF8",
    "--locale=C",
    "--no-sync",
  ]);
  const settings = {
    listen_addresses: "'127.0.0.1'",
    port: String(port),
    unix_socket_directories: `'${pgdir}'`,
    fsync: "off",
    synchronous_commit: "off",
    full_page_writes: "off",
    max_connections: "30",
    shared_buffers: "16MB",
  };
  fs.appendFileSync(
    path.join(data, "postgresql.conf"),
    Object.entries(settings)
      .map(([k, v]) => `${k} = ${v}\n`)
      .join(""),
  );
  pgRun(bindir, pgdir, [
    "pg_ctl",
    "-D",
    data,
    "-l",
    path.join(pgdir, "postgres.log"),
    "-w",
    "-t",
    "60",
    "start",
  ]);
  const url = `postgresql://${PG_USER}@127.0.0.1:${port}/postgres`;
  const stop = async () => {
    try {
      pgRun(bindir, pgdir, ["pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"]);
    } catch {
      /* already stopped */
    }
  };
  const migrate = spawnSync(NEXUSD, ["migrate"], {
    env: { ...process.env, DATABASE_URL: url },
    encoding: "utf8",
    timeout: 60000,
  });
  if (migrate.status !== 0) {
    await stop();
    throw new Error("nexusd migrate failed: " + migrate.stderr);
  }
  return { url, port, stop };
}
