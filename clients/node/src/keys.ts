// keys.ts - the Redis keys a push writes, under the namespace (docs/PROTOCOL.md, "Sidekiq's
// keys"): the `queues` set, `queue:NAME` and `schedule` (pure).

export interface Keys {
  readonly queues: string;
  readonly schedule: string;
  queue(name: string): string;
}

/** The keys under `namespace` ("" for none; "{app}:" keeps them in one cluster slot). */
export function keysFor(namespace: string): Keys {
  return {
    queues: `${namespace}queues`,
    schedule: `${namespace}schedule`,
    queue: (name: string) => `${namespace}queue:${name}`,
  };
}
