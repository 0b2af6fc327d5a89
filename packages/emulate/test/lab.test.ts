import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NetworkFlowEvent } from '@outflow/core';
import { createTestContext, createTestHost } from '@outflow/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { leftovers, teardown } from '../src/cleanup.js';
import { type LabFlowReceiver, labNetflow } from '../src/flows.js';
import { Lab } from '../src/lab.js';
import { Ledger } from '../src/ledger.js';
import { namespaceId, processNetns, skipReason } from './helpers.js';

const stateDir = mkdtempSync(join(tmpdir(), 'outflow-emulate-state-'));
afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

describe.skipIf(skipReason)('the lab: namespaces, a bridge, softflowd, real packets', () => {
  it('carries TCP between namespaces, exports it as IPFIX to the receiver, and leaves nothing behind', { timeout: 60_000 }, async () => {
    const ledger = Ledger.create(stateDir);
    const ctx = createTestContext({ name: 'netflow', type: 'lab_netflow', kind: 'receiver' });
    const receiver = labNetflow.create(
      ctx,
      labNetflow.validate({ netflow: { udp: { port: 0 }, useFlowDirection: false }, heartbeatAddress: '198.18.0.250' }),
    ) as LabFlowReceiver;
    const host = createTestHost({ ctx });
    let lab: Lab | undefined;
    let nsIds: string[] = [];
    try {
      await receiver.start(host);
      lab = await Lab.build(
        {
          hosts: [
            { name: 'pod', addresses: ['10.244.0.21/24'] },
            { name: 'ext', addresses: ['203.0.113.66/24'] },
          ],
          probe: { address: '198.18.0.250', target: '198.18.0.251' },
        },
        ledger,
      );
      nsIds = [...['pod', 'ext', 'probe'].map((h) => namespaceId(lab?.ns(h) as string) as string), namespaceId(lab.switchNs) as string];
      expect(nsIds.every(Boolean)).toBe(true);
      await lab.startSoftflowd({ collectorPort: receiver.address()?.port as number });
      await lab.startProbe();
      lab.spawn('ext', ['sh', '-c', 'exec nc -dl 203.0.113.66 4444 > /dev/null'], { name: 'nc' });
      await new Promise((r) => setTimeout(r, 200));
      const sent = await lab.exec('pod', ['sh', '-c', 'head -c 3000000 /dev/zero | nc -N 203.0.113.66 4444']);
      expect(sent.code).toBe(0);
      // barrier: a heartbeat burst, then expire-all until its flow comes back
      await lab.burst(20_001, 4_000);
      let seen = false;
      for (let i = 0; i < 40 && !seen; i++) {
        await lab.softflowctl('expire-all');
        seen = await receiver.waitForHeartbeat(20_001, 150);
      }
      expect(seen).toBe(true);
      const flows = host.events as NetworkFlowEvent[];
      const tcp = flows.find((f) => f.src.address === '10.244.0.21' && f.dst.address === '203.0.113.66' && f.dst.port === 4444);
      expect(tcp, `flows: ${JSON.stringify(flows.map((f) => [f.src.address, f.dst.address, f.dst.port, f.bytes]))}`).toBeDefined();
      expect(tcp?.bytes).toBeGreaterThanOrEqual(3_000_000);
      expect(tcp?.direction).toBe('egress');
      // the heartbeat never reaches the pipeline
      expect(flows.some((f) => f.src.address === '198.18.0.250')).toBe(false);
      expect(host.telemetry.total('dropped', { reason: 'lab_heartbeat' })).toBeGreaterThan(0);
      // softflowd's datagrams went through the relay in the switch namespace; the lab made no link in the root namespace
      expect(lab.relayedDatagrams).toBeGreaterThan(0);
      expect((await leftovers(ledger.runId)).links).toEqual([]);
    } finally {
      await lab?.stopProcesses();
      const report = await teardown(ledger.snapshot());
      ledger.remove();
      await receiver.shutdown();
      expect(report.failures).toEqual([]);
    }
    expect(await leftovers(ledger.runId)).toEqual({ namespaces: [], links: [], processes: [] });
    const stray = [...processNetns()].filter(([, ns]) => nsIds.includes(ns));
    expect(stray).toEqual([]);
  });
});
