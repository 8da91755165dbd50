// keys.ts - the Redis keys a push writes, under the namespace (docs/PROTOCOL.md, "Sidekiq's
// keys"): the `queues` set, `queue:NAME` and `schedule`, and a unique job's lock (pure).

export interface Keys {
  readonly queues: string;
  readonly schedule: string;
  queue(name: string): string;
  /** `unique:DIGEST`: a unique job's lock; `digest` is the SHA-256 of its unique_key in hex. */
  unique(digest: string): string;
}

/** The keys under `namespace` ("" for none; "{app}:" keeps them in one cluster slot). */
export function keysFor(namespace: string): Keys {
  return {
    queues: `${namespace}queues`,
    schedule: `${namespace}schedule`,
    queue: (name: string) => `${namespace}queue:${name}`,
    unique: (digest: string) => `${namespace}unique:${digest}`,
  };
}
