// prisma.ts - the app's PrismaClient on DATABASE_URL (Prisma 7: the pg driver adapter), one
// per server process, kept across the dev server's hot reloads.

import { PrismaPg } from "@prisma/adapter-pg";

import { PrismaClient } from "../generated/prisma/client";

const kept = globalThis as unknown as { prisma?: PrismaClient };

export const prisma =
  kept.prisma ??
  new PrismaClient({ adapter: new PrismaPg({ connectionString: process.env.DATABASE_URL }) });

if (process.env.NODE_ENV !== "production") kept.prisma = prisma;
