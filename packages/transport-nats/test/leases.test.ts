import { Kvm } from '@nats-io/kv';
import { afterEach, describe, expect, it } from 'vitest';
import {
  acquireConnection,
  type ConnectionLease,
  type LocalNatsServer,
  leaseSchema,
  natsConnectionSchema,
  PartitionLeases,
  type ReleaseReason,
} from '../src/index.js';
import { natsBin, server, waitFor } from './support/nats.js';

interface Instance {
  id: string;
  leases: PartitionLeases;
  lease: ConnectionLease;
  running: Set<number>;
  log: string[];
}

describe.skipIf(!natsBin)('partition leases in a KV bucket', () => {
  let nats: LocalNatsServer | undefined;
  const opened: Instance[] = [];
  afterEach(async () => {
    for (const i of opened.splice(0)) {
      await i.leases.stop({ release: false });
      await i.lease.release();
    }
    await nats?.stop();
  });

  async function instance(id: string, partitions: number, ttlMs = 1_500): Promise<Instance> {
    const lease = await acquireConnection(natsConnectionSchema.parse({ servers: [nats?.url as string], name: id }));
    const running = new Set<number>();
    const log: string[] = [];
    const leases = await PartitionLeases.start(lease.nc, {
      config: leaseSchema.parse({ bucket: 'leases', ttlMs, instanceId: id }),
      group: 'g',
      partitions,
      onAcquire: async (p) => {
        running.add(p);
        log.push(`+${p}`);
      },
      onRelease: async (p, reason: ReleaseReason) => {
        running.delete(p);
        log.push(`-${p}:${reason}`);
      },
    });
    const i = { id, leases, lease, running, log };
    opened.push(i);
    return i;
  }

  const union = (xs: Instance[]) => xs.flatMap((x) => [...x.running]).sort((a, b) => a - b);

  it('instances share the partitions without overlap, and a dead one’s partitions move to the others', async () => {
    nats = await server(1);
    const a = await instance('a', 6);
    const b = await instance('b', 6);
    const c = await instance('c', 6);
    await waitFor(() => union([a, b, c]).length === 6 && [a, b, c].every((x) => x.running.size === 2), 10_000, 'an even split');
    expect(union([a, b, c])).toEqual([0, 1, 2, 3, 4, 5]);
    const fromC = [...c.running];
    // c dies: no more heartbeats, nothing released
    await c.leases.stop({ release: false });
    c.running.clear();
    const died = Date.now();
    await waitFor(() => union([a, b]).length === 6, 10_000, 'takeover of c’s partitions');
    const took = Date.now() - died;
    expect(took).toBeGreaterThanOrEqual(1_000); // not before the TTL ran out
    expect(a.running.size).toBe(3);
    expect(b.running.size).toBe(3);
    for (const p of fromC) expect(a.running.has(p) || b.running.has(p)).toBe(true);
    // the survivors never lost anything
    expect([...a.log, ...b.log].filter((l) => l.includes(':lost'))).toEqual([]);
  });

  it('a graceful stop releases at once (before the TTL) after onRelease, and a newcomer gets its share', async () => {
    nats = await server(1);
    const a = await instance('a', 4, 5_000);
    await waitFor(() => a.running.size === 4, 10_000, 'a owns everything');
    const b = await instance('b', 4, 5_000);
    await waitFor(() => a.running.size === 2 && b.running.size === 2, 15_000, 'rebalance to b');
    expect(a.log.filter((l) => l.endsWith(':rebalance'))).toHaveLength(2);
    const stopped = Date.now();
    await a.leases.stop({ release: true });
    expect(a.log.filter((l) => l.endsWith(':shutdown'))).toHaveLength(2);
    await waitFor(() => b.running.size === 4, 10_000, 'b takes the released partitions');
    expect(Date.now() - stopped).toBeLessThan(5_000);
  });

  it('an instance whose lease was taken finds out, stops the partition as lost, and its fence fails', async () => {
    nats = await server(1);
    const a = await instance('a', 1, 3_000);
    await waitFor(() => a.running.has(0), 10_000, 'a owns partition 0');
    expect(await a.leases.confirm(0)).toBe(true);
    // someone else overwrites the lease (as if a's lease had expired during a pause and b took it)
    const kv = await new Kvm(a.lease.nc).open('leases');
    await kv.put('g.lease.0', Buffer.from('{"instance":"b"}'));
    expect(await a.leases.confirm(0)).toBe(false);
    await waitFor(() => a.log.includes('-0:lost'), 5_000, 'a notices the loss');
    expect(a.leases.owns(0)).toBe(false);
    expect(a.leases.stats.lost).toBe(1);
  });
});
