import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NetworkFlowEvent, OutflowEvent } from '@outflow/core';
import { Lab, LabClock, type LabFlowReceiver, Ledger, labFlowStep, labNetflow, teardown, unavailableReason } from '@outflow/emulate';
import { encodeIpfix, type FlowSpec, NetflowDecoder } from '@outflow/receiver-netflow';
import { createTestContext, createTestHost } from '@outflow/testkit';
import type { Figure, Harness, Suite } from '../harness.js';

/**
 * The emulation lab's own costs.
 *
 * 1. `emulate.lab_step`: flow records/s of the lab step alone (drop heartbeat flows, map times to compressed
 *    event time) on decoded flows, side by side (harness.compare) with the IPFIX decode of the same datagrams:
 *    the ratio says what the step adds to the receiver's cost (a ratio of 10 is a 10% overhead). 1 flow in 30
 *    is a heartbeat.
 * 2. `emulate.flush_barrier` (root and softflowd only): wall time of one export barrier in a real lab — a
 *    heartbeat burst of 4 000 datagrams, `softflowctl expire-all` until the burst's own flow comes back
 *    through the receiver. This is the floor under every network alert's latency in `outflow emulate`.
 */

const EXPORT = Date.UTC(2025, 0, 1, 12);
const PER_DATAGRAM = 30;

function datagrams(n: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let x = 7;
  const r = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
  for (let d = 0; d < n; d++) {
    const flows: FlowSpec[] = [];
    for (let i = 0; i < PER_DATAGRAM; i++) {
      const beat = i === 0;
      const end = EXPORT - (r() % 2_000);
      flows.push({
        src: beat ? '198.18.0.250' : `10.244.0.${(r() % 20) + 10}`,
        dst: beat ? '198.18.0.251' : `203.0.113.${r() % 254}`,
        srcPort: 32768 + (r() % 28000),
        dstPort: beat ? 20_000 + d : 443,
        protocol: beat ? 17 : 6,
        packets: 1 + (r() % 500),
        bytes: 40 + (r() % 1_000_000),
        start: end - (r() % 2_000),
        end,
      });
    }
    out.push(encodeIpfix(flows, { exportTime: EXPORT, sequence: d * PER_DATAGRAM }));
  }
  return out;
}

function decodeAll(decoder: NetflowDecoder, input: readonly Uint8Array[], after?: (batch: OutflowEvent[]) => number): number {
  let n = 0;
  let batch: NetworkFlowEvent[] = [];
  const sink = { event: (e: NetworkFlowEvent) => batch.push(e), error: () => {}, dropped: () => {} };
  for (const d of input) {
    decoder.decode(d, '127.0.0.1', sink, { observedTime: EXPORT });
    n += after ? after(batch) : batch.length;
    batch = [];
  }
  return n;
}

async function barrier(harness: Harness): Promise<Figure[]> {
  const reason = unavailableReason();
  if (reason) return [{ id: 'emulate.flush_barrier', title: 'Export barrier in the lab', value: Number.NaN, unit: 'ms', notes: `skipped: ${reason}` }];
  const stateDir = mkdtempSync(join(tmpdir(), 'outflow-bench-emulate-'));
  const ledger = Ledger.create(stateDir);
  const ctx = createTestContext({ name: 'netflow', type: 'lab_netflow', kind: 'receiver' });
  const receiver = labNetflow.create(ctx, labNetflow.validate({ netflow: { udp: { port: 0 } }, heartbeatAddress: '198.18.0.250' })) as LabFlowReceiver;
  let lab: Lab | undefined;
  try {
    await receiver.start(createTestHost({ ctx }));
    lab = await Lab.build({ hosts: [{ name: 'pod', addresses: ['10.244.0.21/24'] }], probe: { address: '198.18.0.250', target: '198.18.0.251' } }, ledger);
    await lab.startSoftflowd({ collectorPort: receiver.address()?.port as number });
    await lab.startProbe();
    const theLab = lab;
    let port = 20_000;
    const times: number[] = [];
    const rounds = harness.quick ? 5 : 30;
    for (let i = 0; i < rounds; i++) {
      const p = port++;
      const start = process.hrtime.bigint();
      await theLab.burst(p, 4_000);
      let seen = false;
      for (let k = 0; k < 40 && !seen; k++) {
        await theLab.softflowctl('expire-all');
        seen = await receiver.waitForHeartbeat(p, 120);
      }
      if (seen) times.push(Number(process.hrtime.bigint() - start) / 1e6);
    }
    times.sort((a, b) => a - b);
    const median = times[times.length >> 1] ?? Number.NaN;
    return [
      {
        id: 'emulate.flush_barrier',
        title: 'Export barrier in the lab (heartbeat burst + softflowctl expire-all until its flow is back)',
        value: Math.round(median),
        unit: 'ms',
        notes: `median of ${times.length}/${rounds} barriers; min ${Math.round(times[0] ?? Number.NaN)} ms, max ${Math.round(times.at(-1) ?? Number.NaN)} ms`,
      },
    ];
  } finally {
    await lab?.stopProcesses();
    await teardown(ledger.snapshot());
    ledger.remove();
    await receiver.shutdown();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

export const suite: Suite = {
  name: 'emulate',
  description: 'Emulation lab: the lab NetFlow path against bare IPFIX decoding; the export barrier in a real lab (root)',
  async run(harness: Harness): Promise<Figure[]> {
    const input = datagrams(harness.quick ? 300 : 3_000);
    // speed 1 and equal origins: the same arithmetic as any speed, and times stay put across the repeated runs
    const clock = new LabClock(EXPORT, EXPORT, 1);
    const decoder = new NetflowDecoder({});
    const decoded: OutflowEvent[][] = [];
    decodeAll(decoder, input, (batch) => decoded.push(batch) && batch.length);
    const ports: number[] = [];
    const m = await harness.compare({
      decode: () => decodeAll(decoder, input),
      step: () => {
        let n = 0;
        for (const batch of decoded) {
          ports.length = 0;
          n += labFlowStep(batch, clock, '198.18.0.250', ports).events.length + ports.length;
        }
        return n;
      },
    });
    const ratio = (m.step?.perSecond ?? 0) / (m.decode?.perSecond ?? 1);
    return [
      {
        id: 'emulate.lab_step',
        title: 'Lab step of the lab_netflow receiver (heartbeat filter + time warp)',
        value: Math.round(m.step?.perSecond ?? 0),
        unit: 'flows/s',
        ratio: { value: Number(ratio.toFixed(1)), to: 'IPFIX decode of the same datagrams' },
        target: '>= 10 × decode (adds at most 10% to the receiver)',
        met: ratio >= 10,
        notes: `decode ${Math.round(m.decode?.perSecond ?? 0)} flows/s; ${input.length} datagrams of ${PER_DATAGRAM} records`,
      },
      ...(await barrier(harness)),
    ];
  },
};
