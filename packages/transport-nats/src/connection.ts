import { connect, type NatsConnection } from '@nats-io/transport-node';
import { errorMessage, type Logger, z } from '@outflow/core';

/** How to reach NATS. Shared by every component of this package. */
export const natsConnectionSchema = z
  .object({
    /** Server URLs, e.g. `nats://127.0.0.1:4222`. */
    servers: z.array(z.string().min(1)).min(1).default(['nats://127.0.0.1:4222']),
    /** Client name shown by the server (`nats server report connections`). Components with the same settings share one connection. */
    name: z.string().min(1).optional(),
    /** Token authentication. */
    token: z.string().min(1).optional(),
    /** User and password authentication. */
    user: z.string().min(1).optional(),
    pass: z.string().min(1).optional(),
    /** Connect and request timeout, ms. */
    timeoutMs: z.number().int().positive().default(5_000),
  })
  .strict();

export type NatsConnectionConfig = z.output<typeof natsConnectionSchema>;
export type NatsConnectionInput = z.input<typeof natsConnectionSchema>;

interface PoolEntry {
  refs: number;
  connection: Promise<NatsConnection>;
}

const pool = new Map<string, PoolEntry>();

/** A reference to a pooled connection; `release` closes it (draining) once the last holder releases. */
export interface ConnectionLease {
  readonly nc: NatsConnection;
  release(): Promise<void>;
}

function poolKey(config: NatsConnectionConfig): string {
  return JSON.stringify([config.servers, config.name ?? '', config.token ?? '', config.user ?? '', config.pass ?? '', config.timeoutMs]);
}

/**
 * Open (or share) a connection. Components configured with the same servers,
 * credentials and name share one TCP connection; it is closed when the last
 * of them releases it. Reconnects forever with a short wait, as a long-lived
 * service should.
 */
export async function acquireConnection(config: NatsConnectionConfig, logger?: Logger): Promise<ConnectionLease> {
  const key = poolKey(config);
  let entry = pool.get(key);
  if (!entry || (await entry.connection.then((nc) => nc.isClosed()).catch(() => true))) {
    const connection = connect({
      servers: config.servers,
      ...(config.name ? { name: config.name } : {}),
      ...(config.token ? { token: config.token } : {}),
      ...(config.user ? { user: config.user } : {}),
      ...(config.pass ? { pass: config.pass } : {}),
      timeout: config.timeoutMs,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
    });
    entry = { refs: 0, connection };
    pool.set(key, entry);
    const created = entry;
    connection.then(
      (nc) => {
        void (async () => {
          for await (const s of nc.status()) {
            if (s.type === 'disconnect' || s.type === 'reconnect') logger?.warn(`nats ${s.type}`, { server: 'server' in s ? s.server : undefined });
          }
        })().catch(() => {});
        void nc.closed().then(() => {
          if (pool.get(key) === created) pool.delete(key);
        });
      },
      () => {
        if (pool.get(key) === created) pool.delete(key);
      },
    );
  }
  const held = entry;
  held.refs++;
  let nc: NatsConnection;
  try {
    nc = await held.connection;
  } catch (err) {
    held.refs--;
    throw new Error(`cannot connect to NATS at ${config.servers.join(', ')}: ${errorMessage(err)}`, { cause: err });
  }
  let released = false;
  return {
    nc,
    release: async () => {
      if (released) return;
      released = true;
      held.refs--;
      if (held.refs > 0) return;
      if (pool.get(key) === held) pool.delete(key);
      if (!nc.isClosed()) await nc.drain().catch(() => nc.close());
    },
  };
}

/** True when `err` is a NATS error worth retrying (timeouts, no responders, disconnection) rather than a rejection. */
export function isTransientNatsError(err: unknown): boolean {
  const text = `${(err as { name?: string })?.name ?? ''} ${errorMessage(err)} ${(err as { code?: string })?.code ?? ''}`.toLowerCase();
  return /timeout|no responders|503|disconnect|connection|closed|reconnect|draining/.test(text);
}
