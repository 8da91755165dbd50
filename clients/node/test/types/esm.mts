// esm.mts - the package as an ES module app sees it (type-checked only: tsc -p test/types).
import { Client, NexusClientError, type EnqueueOptions, type QueryFn } from "@nexusd/client";
import { Redis } from "ioredis";
import { createClient } from "redis";

interface Order {
  id: number;
  total: number;
}

export async function produce(order: Order, query: QueryFn): Promise<string[]> {
  const jobs = new Client({ redis: new Redis({ lazyConnect: true }), namespace: "" });
  const other = new Client({ redis: createClient() });
  const opts: EnqueueOptions = { queue: "default", at: new Date(), retry: 5 };
  const { jid } = await jobs.enqueue("email.welcome", [42, order], opts);
  const { jids } = await other.enqueueMany("analytics.rollup", [["2026-11-01"], ["2026-11-02"]], {
    in: "10m",
  });
  const inTx: string | null = (
    await jobs.enqueueInTransaction(query, "email.order_receipt", [order.id])
  ).jid;
  try {
    await jobs.enqueue("noop");
  } catch (e) {
    if (e instanceof NexusClientError && e.code === "redis") return [];
  }
  return [jid, ...jids, inTx ?? ""];
}
