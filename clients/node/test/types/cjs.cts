// cjs.cts - the package as a CommonJS app sees it (type-checked only: tsc -p test/types).
import { Client, NexusClientError } from "@nexusd/client";
import { Redis } from "ioredis";

export async function produce(): Promise<string> {
  const jobs = new Client({ redis: new Redis({ lazyConnect: true }) });
  try {
    return (await jobs.enqueue("noop", [], { in: 30 })).jid;
  } catch (e) {
    if (e instanceof NexusClientError) return e.code;
    throw e;
  }
}
