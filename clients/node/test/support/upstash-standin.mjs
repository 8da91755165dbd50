// upstash-standin.mjs - a local stand-in for Upstash's Redis REST API, for the tests: the
// hosted service cannot be reached from here. It speaks the protocol @upstash/redis uses
// (1.39: pkg/http.ts and pkg/pipeline.ts) in front of a real redis-server, forwarding every
// command over a real Redis connection (one per request, RESP2):
//
//   POST /            a command as a JSON array         -> {"result": R} | 400 {"error": E}
//   POST /pipeline    an array of commands              -> [{"result": R} | {"error": E}, ...]
//   POST /multi-exec  the same, in MULTI ... EXEC       -> the same; 400 {"error"} if aborted
//   Authorization: Bearer TOKEN, else 401 {"error": "Unauthorized"} (nothing runs)
//   Upstash-Encoding: base64: every string in R base64-encoded, but the status "OK"
//   upstash-sync-token: answered on every reply (read-your-writes; not enforced here)
//
// and misbehaves on request, to test what the client makes of it: `standin.misbehave = {...}`
//   { status: 429, body: '{"error": "..."}' }  answers that instead, running nothing
//   { slowMs: 2000 }                           runs the commands, answers that much later
//   { truncate: true }                         runs them, cuts the answer in the middle
//   { drop: true }                             runs them, closes without an answer
// until it is set back to null. `requests` records each request ({ path, headers, body }).

import http from "node:http";
import net from "node:net";

/** A RESP2 reply, its kind kept: Upstash encodes bulk strings but not the status "OK". */
function parseReply(buf, pos) {
  const eol = buf.indexOf("\r\n", pos);
  if (eol < 0) return null;
  const type = String.fromCharCode(buf[pos]);
  const line = buf.toString("utf8", pos + 1, eol);
  const next = eol + 2;
  switch (type) {
    case "+":
      return { value: { status: line }, end: next };
    case "-":
      return { value: { error: line }, end: next };
    case ":":
      return { value: Number(line), end: next };
    case "$": {
      const n = Number(line);
      if (n < 0) return { value: null, end: next };
      if (buf.length < next + n + 2) return null;
      return { value: buf.subarray(next, next + n), end: next + n + 2 };
    }
    case "*": {
      const n = Number(line);
      if (n < 0) return { value: null, end: next };
      const items = [];
      let at = next;
      for (let i = 0; i < n; i++) {
        const item = parseReply(buf, at);
        if (!item) return null;
        items.push(item.value);
        at = item.end;
      }
      return { value: items, end: at };
    }
    default:
      throw new Error(`unexpected RESP type ${JSON.stringify(type)}`);
  }
}

function encodeCommand(args) {
  const parts = [`*${args.length}\r\n`];
  for (const a of args) parts.push(`$${Buffer.byteLength(a)}\r\n`, a, "\r\n");
  return parts.join("");
}

/** Sends `commands` (arrays of strings) on a new connection to `sock`; resolves to their
 * replies in order. */
function redisRun(sock, commands) {
  return new Promise((resolve, reject) => {
    const conn = net.createConnection(sock);
    let buf = Buffer.alloc(0);
    const replies = [];
    conn.on("error", reject);
    conn.on("data", (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        const r = parseReply(buf, 0);
        if (!r) break;
        replies.push(r.value);
        buf = buf.subarray(r.end);
      }
      if (replies.length === commands.length) {
        conn.end();
        resolve(replies);
      }
    });
    conn.write(commands.map(encodeCommand).join(""));
  });
}

/** A reply as Upstash writes it in JSON, base64 or not. */
function toJson(reply, base64) {
  if (reply === null || typeof reply === "number") return reply;
  if (Array.isArray(reply)) return reply.map((r) => toJson(r, base64));
  if (Buffer.isBuffer(reply)) return base64 ? reply.toString("base64") : reply.toString("utf8");
  if ("status" in reply)
    return base64 && reply.status !== "OK"
      ? Buffer.from(reply.status).toString("base64")
      : reply.status;
  return reply; // { error } inside EXEC's reply: the caller turns it into an entry
}

function entry(reply, base64) {
  return reply && typeof reply === "object" && "error" in reply && !Array.isArray(reply)
    ? { error: reply.error }
    : { result: toJson(reply, base64) };
}

function isCommand(c) {
  return (
    Array.isArray(c) &&
    c.length > 0 &&
    c.every((a) => typeof a === "string" || typeof a === "number" || typeof a === "boolean")
  );
}

/** Runs one request's body for `path`; resolves to [HTTP status, JSON answer]. */
async function execute(sock, path, body, base64) {
  if (path === "/") {
    if (!isCommand(body)) return [400, { error: "ERR the body must be a command array" }];
    const [reply] = await redisRun(sock, [body.map(String)]);
    const e = entry(reply, base64);
    return ["error" in e ? 400 : 200, e];
  }
  if (!Array.isArray(body) || body.length === 0 || !body.every(isCommand))
    return [400, { error: "ERR the body must be an array of command arrays" }];
  const commands = body.map((c) => c.map(String));
  if (path === "/pipeline") {
    const replies = await redisRun(sock, commands);
    return [200, replies.map((r) => entry(r, base64))];
  }
  const replies = await redisRun(sock, [["MULTI"], ...commands, ["EXEC"]]);
  const exec = replies[replies.length - 1];
  if (!Array.isArray(exec))
    return [400, { error: exec?.error ?? "EXECABORT Transaction discarded" }];
  return [200, exec.map((r) => entry(r, base64))];
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Starts the stand-in on 127.0.0.1 in front of redis-server's unix socket `redisSock`,
 * accepting `token`. Resolves to { url, token, requests, misbehave, stop() }. */
export async function startUpstashStandin(redisSock, token) {
  let syncToken = 0;
  const standin = { token, requests: [], misbehave: null };

  const server = http.createServer(async (req, res) => {
    const path = new URL(req.url, "http://standin").pathname;
    const text = await readBody(req);
    standin.requests.push({ path, headers: req.headers, body: text });
    const answer = (status, json) => {
      const out = JSON.stringify(json);
      res.writeHead(status, {
        "Content-Type": "application/json",
        "Content-Length": Buffer.byteLength(out),
        "upstash-sync-token": String(++syncToken),
      });
      return out;
    };
    if (req.method !== "POST" || !["/", "/pipeline", "/multi-exec"].includes(path))
      return res.end(answer(404, { error: `ERR no such endpoint: ${req.method} ${path}` }));
    if (req.headers.authorization !== `Bearer ${token}`)
      return res.end(answer(401, { error: "Unauthorized" }));
    const bad = standin.misbehave;
    if (bad?.status) {
      res.writeHead(bad.status, { "Content-Type": "application/json" });
      return res.end(bad.body ?? "");
    }
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      return res.end(answer(400, { error: "ERR failed to parse the body as JSON" }));
    }
    const base64 = req.headers["upstash-encoding"] === "base64";
    let status, json;
    try {
      [status, json] = await execute(redisSock, path, body, base64);
    } catch (e) {
      return res.end(answer(500, { error: `ERR the stand-in lost Redis: ${e.message}` }));
    }
    if (bad?.drop) return req.socket.destroy();
    if (bad?.slowMs) await sleep(bad.slowMs);
    const out = answer(status, json);
    if (bad?.truncate) {
      res.write(out.slice(0, Math.floor(out.length / 2)));
      return setTimeout(() => req.socket.destroy(), 20);
    }
    res.end(out);
  });

  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  standin.url = `http://127.0.0.1:${server.address().port}`;
  standin.stop = () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return standin;
}
