// typed.mts - a Client typed by `nexusctl types` (nexus-jobs.d.ts, which test.sh writes from
// jobs.conf): known classes with fitting args compile, and every @ts-expect-error line must
// fail to (tsc fails if one compiles: the types must never become `any`). Type-checked only.
import { Client, type QueryFn } from "@nexusd/client";
import { Redis } from "ioredis";
import type { NexusJobs } from "./nexus-jobs.js";

const ORDER = "3f2c8e1a-5b7d-4c9e-8a1f-2d3b4c5e6f70";

interface Values {
  coupon: string;
}

export async function produce(query: QueryFn, values: Values): Promise<string[]> {
  const jobs = new Client<NexusJobs>({ redis: new Redis({ lazyConnect: true }) });
  const { jid } = await jobs.enqueue("email.welcome", [42]);
  await jobs.enqueue("email.welcome", [42, values], { queue: "mailers" });
  await jobs.enqueue("noop");
  await jobs.enqueue("noop", ["anything", 1, { at: "all" }]);
  await jobs.enqueue("analytics.rollup");
  await jobs.enqueue("emotion.analyze", ["What a day", null]);
  await jobs.enqueueMany("analytics.rollup", [["2026-11-01"], ["2026-11-01", "2026-11-02"]]);
  await jobs.enqueue("orders.mark-paid", [ORDER, 2, 1.5, true, { any: [1] }, "t", 1764547200]);
  await jobs.enqueue("orders.mark-paid", [ORDER, 2, 1.5, false, null, "t", "2026-12-01"]);
  await jobs.enqueue("ci-nightly", ["--grep", "checkout"]);
  const inTx = await jobs.enqueueInTransaction(query, "email.order_receipt", [ORDER]);

  // @ts-expect-error: userId is a number
  await jobs.enqueue("email.welcome", ["x"]);
  // @ts-expect-error: email.welcome cannot go without its userId
  await jobs.enqueue("email.welcome");
  // @ts-expect-error: a class that no process runs (a typo)
  await jobs.enqueue("email.welcom", [42]);
  // @ts-expect-error: sleep takes one argument
  await jobs.enqueue("sleep", [1, 2]);
  // @ts-expect-error: $4 of orders.mark-paid is a bool
  await jobs.enqueue("orders.mark-paid", [ORDER, 2, 1.5, "yes", null, "t", 0]);
  // @ts-expect-error: email.send takes an object
  await jobs.enqueue("email.send", ["to: ada@example.com"]);
  // @ts-expect-error: each args of enqueueMany is checked
  await jobs.enqueueMany("email.welcome", [[1], ["x"]]);
  // @ts-expect-error: and those of enqueueInTransaction
  await jobs.enqueueInTransaction(query, "email.order_receipt", [7]);
  return [jid, inTx.jid ?? ""];
}
