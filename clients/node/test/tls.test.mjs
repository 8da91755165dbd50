// tls.test.mjs - jobs pushed over TLS (rediss://) through ioredis and node-redis v4 into a
// real redis-server serving TLS with a CA made here, run by a real nexusd connected over TLS
// as well; a client that does not trust the server's CA gets a clear error and pushes
// nothing.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";

import IORedis from "ioredis";
import { createClient } from "redis";

import { Client, NexusClientError } from "../dist/esm/index.js";
import { startNexusd, startRedis, teardown, tempDir } from "./support/servers.mjs";

let dir, server, nexusd, pki;
const conns = {};

function openssl(...args) {
  const res = spawnSync("openssl", args, { cwd: pki.dir, encoding: "utf8" });
  if (res.status !== 0) throw new Error(`openssl ${args.join(" ")}: ${res.stderr}`);
}

/** A CA, a server certificate for 127.0.0.1 and localhost signed by it, and a second CA that
 * signed nothing here (a client trusting only it must refuse the server). */
function makePki(base) {
  pki = { dir: path.join(base, "pki") };
  fs.mkdirSync(pki.dir);
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  for (const ca of ["ca", "other-ca"])
    openssl(
      "req",
      "-x509",
      ...ec,
      "-keyout",
      `${ca}.key`,
      "-out",
      `${ca}.crt`,
      "-days",
      "30",
      "-subj",
      `/CN=${ca} for nexusd's node client tests`,
    );
  fs.writeFileSync(
    path.join(pki.dir, "server.ext"),
    "basicConstraints = CA:FALSE\nextendedKeyUsage = serverAuth\n" +
      "subjectAltName = IP:127.0.0.1, DNS:localhost\n",
  );
  openssl("req", ...ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost");
  openssl(
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "server.crt",
    "-days",
    "30",
    "-extfile",
    "server.ext",
  );
  for (const name of ["ca", "other-ca", "server"]) {
    pki[name.replace("-c", "C") + "Crt"] = path.join(pki.dir, `${name}.crt`);
  }
  pki.serverKey = path.join(pki.dir, "server.key");
}

before(async () => {
  dir = tempDir();
  makePki(dir);
  server = await startRedis(dir, {
    tls: { cert: pki.serverCrt, key: pki.serverKey, ca: pki.caCrt },
  });
  nexusd = await startNexusd(dir, server, {
    url: server.tlsUrl,
    redisSettings: { tls_ca_file: pki.caCrt },
  });
  await nexusd.waitLog(/event=redis_up/);
  const ca = fs.readFileSync(pki.caCrt);
  conns.ioredis = new IORedis({ host: "127.0.0.1", port: server.tlsPort, tls: { ca } });
  conns["node-redis"] = createClient({ url: server.tlsUrl, socket: { tls: true, ca } });
  await conns["node-redis"].connect();
});

after(() =>
  teardown({
    close: [() => conns.ioredis?.quit(), () => conns["node-redis"]?.quit()],
    nexusd,
    servers: [server],
    dir,
  }),
);

for (const kind of ["ioredis", "node-redis"]) {
  describe(`over TLS through ${kind}`, () => {
    it("jobs pushed over rediss:// run in a nexusd connected over TLS", async () => {
      const jobs = new Client({ redis: conns[kind] });
      const { jid } = await jobs.enqueue("noop", [kind, "tls"]);
      const { jids } = await jobs.enqueueMany("noop", [
        [kind, 1],
        [kind, 2],
      ]);
      await nexusd.waitJobs([jid, ...jids]);
    });
  });
}

describe("a server the client does not trust", () => {
  it("refuses to push, with a NexusClientError, and pushes nothing", async () => {
    const before = await conns.ioredis.llen("queue:untrusted");
    const other = new IORedis({
      host: "127.0.0.1",
      port: server.tlsPort,
      tls: { ca: fs.readFileSync(pki.otherCaCrt) },
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: true,
      retryStrategy: () => null, // one attempt: the certificate will not change
    });
    const seen = []; // ioredis tells the reason on "error"; the push fails "Connection is closed"
    other.on("error", (e) => seen.push(String(e)));
    try {
      await assert.rejects(
        new Client({ redis: other }).enqueue("noop", [], { queue: "untrusted" }),
        (e) => {
          assert.ok(e instanceof NexusClientError, String(e));
          assert.equal(e.code, "redis");
          return true;
        },
      );
    } finally {
      other.disconnect();
    }
    assert.ok(
      seen.some((e) => /certificate/i.test(e)),
      seen.join("; "),
    ); // the CA, not the network
    assert.equal(await conns.ioredis.llen("queue:untrusted"), before);
  });
});
