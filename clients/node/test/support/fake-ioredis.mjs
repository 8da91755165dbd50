// fake-ioredis.mjs - a stand-in connection for tests that need no server: an object ioredis's
// detection accepts, recording each MULTI as a list of commands.

/** `sent`: each transaction's commands, as [name, ...args]. */
export function fakeIoredis() {
  const sent = [];
  return {
    sent,
    sadd() {},
    lpush() {},
    multi() {
      const cmds = [];
      const m = {
        sadd: (...a) => (cmds.push(["sadd", ...a]), m),
        lpush: (...a) => (cmds.push(["lpush", ...a]), m),
        zadd: (...a) => (cmds.push(["zadd", ...a]), m),
        exec: async () => (sent.push(cmds), cmds.map(() => [null, 1])),
      };
      return m;
    },
  };
}
