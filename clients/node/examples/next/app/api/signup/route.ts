// route.ts - POST /api/signup {email, password}: creates the user, then enqueues
// `email.welcome` [user id] for nexusd to send (Node runtime: Prisma and ioredis).

import { NexusClientError } from "@nexusd/client";

import { Prisma } from "../../../generated/prisma/client";
import { jobs } from "../../../lib/jobs";
import { hashPassword } from "../../../lib/password";
import { prisma } from "../../../lib/prisma";

export const runtime = "nodejs";

export async function POST(request: Request): Promise<Response> {
  const { email, password } = (await request.json()) as { email?: unknown; password?: unknown };
  if (typeof email !== "string" || !email.includes("@"))
    return Response.json({ error: "email must be an address" }, { status: 400 });
  if (typeof password !== "string" || password.length < 8)
    return Response.json({ error: "password must be at least 8 characters" }, { status: 400 });

  let user;
  try {
    user = await prisma.user.create({ data: { email, password: await hashPassword(password) } });
  } catch (e) {
    if (e instanceof Prisma.PrismaClientKnownRequestError && e.code === "P2002")
      return Response.json({ error: "this email has an account" }, { status: 409 });
    throw e;
  }

  // The user exists whether or not the mail can be queued: a failed push is logged, and the
  // sign-up still succeeds (nexusctl enqueue email.welcome '[ID]' sends it by hand).
  let welcomeJob: string | null = null;
  try {
    welcomeJob = (await jobs.enqueue("email.welcome", [user.id])).jid;
  } catch (e) {
    if (!(e instanceof NexusClientError)) throw e;
    console.error(
      `level=error event=enqueue class=email.welcome user=${user.id} code=${e.code}`,
      e.message,
    );
  }
  return Response.json({ id: user.id, welcomeJob }, { status: 201 });
}
