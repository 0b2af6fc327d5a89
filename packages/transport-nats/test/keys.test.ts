import { jetstreamManager } from '@nats-io/jetstream';
import { afterEach, describe, expect, it } from 'vitest';
import {
  acquireConnection,
  detectionKey,
  fnv1a32,
  type LocalNatsServer,
  NatsEventPublisher,
  natsConnectionSchema,
  partitionOf,
  serverMappingConfig,
  staticPartitions,
  subjectToken,
} from '../src/index.js';
import { natsBin, server } from './support/nats.js';

describe('keys and partitions', () => {
  it('fnv1a32 matches the published FNV-1a test vectors', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
  });

  it('subject tokens keep safe keys readable and escape what NATS reserves', () => {
    expect(subjectToken('workload:prod/shop/Deployment/api')).toBe('workload:prod/shop/Deployment/api');
    expect(subjectToken('a.b c*>')).toBe('a~2Eb~20c~2A~3E');
    expect(subjectToken('')).toBe('_');
    expect(subjectToken('a.b')).not.toBe(subjectToken('a_b'));
    const long = subjectToken(`workload:${'x'.repeat(300)}`);
    expect(long.length).toBeLessThanOrEqual(120);
    expect(long).not.toBe(subjectToken(`workload:${'x'.repeat(299)}y`));
  });

  it('the detection key is the workload, or the account for cloud API calls', () => {
    const w = { cluster: 'c', namespace: 'n', workloadKind: 'Deployment', workloadName: 'api' };
    const flow = {
      kind: 'network_flow' as const,
      time: 0,
      observedTime: 0,
      source: 's',
      src: { address: '10.0.0.1' },
      dst: { address: '1.1.1.1' },
      direction: 'egress' as const,
    };
    expect(detectionKey({ ...flow, workload: w })).toBe('workload:c/n/Deployment/api');
    expect(detectionKey(flow)).toBe('address:10.0.0.1');
    expect(detectionKey({ ...flow, direction: 'ingress' })).toBe('address:1.1.1.1');
    expect(
      detectionKey({
        kind: 'cloud_api_call',
        time: 0,
        observedTime: 0,
        source: 'aws_cloudtrail',
        provider: 'aws',
        service: 'ec2.amazonaws.com',
        operation: 'ModifySnapshotAttribute',
        actor: { accountId: '999988887777', arn: 'arn:aws:sts::999988887777:assumed-role/x/y' },
        recipientAccountId: '111122223333',
        workload: w,
      }),
    ).toBe('account:111122223333');
  });

  it('static assignment splits partitions by index', () => {
    expect(staticPartitions(8, 1, 3)).toEqual([1, 4, 7]);
    expect([0, 1, 2].flatMap((i) => staticPartitions(8, i, 3)).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(serverMappingConfig(12)).toContain('"outflow.keyed.*": "outflow.events.{{partition(12,1)}}"');
  });
});

describe.skipIf(!natsBin)('deterministic partitioning by nats-server', () => {
  let nats: LocalNatsServer | undefined;
  afterEach(async () => {
    await nats?.stop();
  });

  it('the server puts each key in the partition partitionOf computes, and client partitioning agrees', async () => {
    nats = await server(7);
    const keys = Array.from({ length: 60 }, (_, i) => `workload:c/ns-${i % 5}/Deployment/app-${i}`);
    const events = keys.map((_k, i) => ({
      kind: 'process_exec' as const,
      time: 1_000 + i,
      observedTime: 0,
      source: 'test',
      sourceId: `p-${i}`,
      phase: 'exec' as const,
      process: { executable: '/bin/true', args: [] },
      workload: { cluster: 'c', namespace: `ns-${i % 5}`, workloadKind: 'Deployment', workloadName: `app-${i}` },
    }));
    const viaServer = await NatsEventPublisher.open({ servers: [nats.url] }, { stream: { partitions: 7, name: 'EV' } });
    const r = await viaServer.publish(events);
    expect(r).toMatchObject({ published: 60, duplicates: 0, failed: [] });
    await viaServer.close();
    const lease = await acquireConnection(natsConnectionSchema.parse({ servers: [nats.url] }));
    const jsm = await jetstreamManager(lease.nc);
    const stored = new Map<string, number>();
    // sequence 1 is the publisher's probe (a control message)
    for (let seq = 2; seq <= 61; seq++) {
      const m = (await jsm.streams.getMessage('EV', { seq })) as NonNullable<Awaited<ReturnType<typeof jsm.streams.getMessage>>>;
      const key = m.header.get('Outflow-Key');
      stored.set(key, Number(m.subject.split('.').pop()));
    }
    expect(stored.size).toBe(60);
    for (const k of keys) expect(stored.get(k)).toBe(partitionOf(subjectToken(k), 7));
    expect(new Set(stored.values()).size).toBeGreaterThan(3);
    // a client-partitioned publisher writes the same partitions, straight to the partition subjects
    const viaClient = await NatsEventPublisher.open({ servers: [nats.url] }, { stream: { partitions: 7, name: 'EV' }, partitioning: 'client', dedupe: false });
    await viaClient.publish(events.slice(0, 10));
    await viaClient.close();
    for (let i = 0; i < 10; i++) {
      const m = (await jsm.streams.getMessage('EV', { seq: 62 + i })) as NonNullable<Awaited<ReturnType<typeof jsm.streams.getMessage>>>;
      expect(Number(m.subject.split('.').pop())).toBe(stored.get(keys[i] as string));
    }
    await lease.release();
  });

  it('republishing the same records stores them once (message ids in the duplicate window)', async () => {
    nats = await server(3);
    const publisher = await NatsEventPublisher.open({ servers: [nats.url] }, { stream: { partitions: 3 } });
    const events = Array.from({ length: 20 }, (_, i) => ({
      kind: 'file_access' as const,
      time: 5_000 + i,
      observedTime: 0,
      source: 'test',
      sourceId: `f-${i}`,
      path: `/data/${i}`,
      operation: 'read' as const,
      workload: { namespace: 'n', pod: `p-${i % 4}` },
    }));
    expect((await publisher.publish(events)).published).toBe(20);
    expect(await publisher.publish(events)).toMatchObject({ published: 0, duplicates: 20 });
    await publisher.close();
  });

  it('a server without the partition mapping is reported clearly', async () => {
    nats = await server(3);
    await expect(NatsEventPublisher.open({ servers: [nats.url] }, { stream: { partitions: 3, prefix: 'other' } })).rejects.toThrow(/subject mapping/);
  });
});
