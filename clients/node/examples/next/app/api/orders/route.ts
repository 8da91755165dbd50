// route.ts - POST /api/orders {productId, email, name}: the order and its `email.order_receipt`
// job in one Prisma transaction. The job is written through nexus.enqueue() on the
// transaction's connection: nexusd relays it to Redis once the order commits, never if the
// transaction rolls back (Node runtime: Prisma on DATABASE_URL, nexusd's `nexusd migrate`
// schema in the same database).

import { jobs } from "../../../lib/jobs";
import { prisma } from "../../../lib/prisma";

export const runtime = "nodejs";

export async function POST(request: Request): Promise<Response> {
  const { productId, email, name } = (await request.json()) as {
    productId?: unknown;
    email?: unknown;
    name?: unknown;
  };
  if (typeof productId !== "number" || !Number.isInteger(productId) || productId <= 0)
    return Response.json({ error: "productId must be a positive integer" }, { status: 400 });
  if (typeof email !== "string" || !email.includes("@") || typeof name !== "string" || !name)
    return Response.json({ error: "email and name are required" }, { status: 400 });

  const order = await prisma.$transaction(async (tx) => {
    const product = await tx.product.findUnique({ where: { id: productId } });
    if (!product) return null;
    const order = await tx.order.create({
      data: { productId, email, name, amount: product.price },
    });
    // $queryRawUnsafe, not $executeRawUnsafe: it returns the row, so the jid comes back too
    const { jid } = await jobs.enqueueInTransaction(
      (sql, params) => tx.$queryRawUnsafe(sql, ...params),
      "email.order_receipt",
      [order.id],
    );
    return { id: order.id, amount: order.amount, receiptJob: jid };
  });
  if (!order) return Response.json({ error: "no such product" }, { status: 404 });
  return Response.json(order, { status: 201 });
}
