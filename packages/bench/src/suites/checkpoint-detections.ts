import type { CheckpointHandle, CloudApiCallEvent, DetectionContext, Finding, Processor, WorkloadIdentity } from '@outflow/core';
import { createAnalytic, type PodRecord, type T1537Bundle, t1537 } from '@outflow/detections';
import { createTestContext } from '@outflow/testkit';
import { BehaviorSubject, NEVER, Subject } from 'rxjs';
import type { Figure, Harness, Suite } from '../harness.js';

/**
 * What checkpointing the t1537 preset's state costs, against what building
 * that state cost, measured side by side:
 * - the workload identity index (pods learned from the audit stream and the
 *   watch): saving it (snapshot + JSON) and restoring it (JSON + restore), vs
 *   learning the same pods (upsert);
 * - an order buffer full of held CloudTrail events (shared_snapshot_consumed):
 *   saving and restoring it, vs pushing the same events through the analytic.
 */

const ip = (n: number) => `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
const T0 = Date.UTC(2024, 2, 1);

function pods(n: number): PodRecord[] {
  const out: PodRecord[] = [];
  for (let i = 0; i < n; i++) {
    const name = `app-${i % 500}-${i}`;
    const identity: WorkloadIdentity = Object.freeze({
      cluster: 'prod',
      namespace: 'shop',
      pod: name,
      podUid: `uid-${i}`,
      workloadKind: 'Deployment',
      workloadName: `app-${i % 500}`,
      node: `node-${i % 40}`,
      labels: Object.freeze({ app: `app-${i % 500}`, tier: 'web' }),
    });
    out.push({
      key: `prod/shop/${name}`,
      uid: `uid-${i}`,
      identity,
      ips: [ip(0x0a2a0000 + i)],
      containers: [{ name: 'app', id: (0x100000000000 + i).toString(16), image: `registry.example.com/shop/app-${i % 7}:1` }],
      validFrom: T0 + i,
      validTo: Number.POSITIVE_INFINITY,
    });
  }
  return out;
}

function bundle(): T1537Bundle {
  return t1537.create(createTestContext({ name: 't1537', kind: 'detection' }), t1537.validate({ cluster: { name: 'prod' } })) as T1537Bundle;
}

function processorNamed(b: T1537Bundle, name: string): Processor & { checkpoint: CheckpointHandle } {
  const p = (b.processors ?? []).find((x) => x.name === name);
  if (!p?.checkpoint) throw new Error(`no processor ${name} with a checkpoint`);
  return p as Processor & { checkpoint: CheckpointHandle };
}

/** Share events for distinct snapshots, all held: the watermark never moves. */
function shares(n: number): CloudApiCallEvent[] {
  const out: CloudApiCallEvent[] = [];
  for (let i = 0; i < n; i++) {
    out.push({
      kind: 'cloud_api_call',
      time: T0 + i * 1000,
      observedTime: T0,
      source: 'aws_cloudtrail',
      sourceId: `share-${i}`,
      provider: 'aws',
      service: 'ec2.amazonaws.com',
      operation: 'ModifySnapshotAttribute',
      actor: { type: 'IAMUser', accountId: '111122223333', arn: 'arn:aws:iam::111122223333:user/ops', userName: 'ops' },
      recipientAccountId: '111122223333',
      region: 'eu-west-1',
      sourceIp: '203.0.113.7',
      userAgent: 'aws-cli/2.15.30',
      request: {
        snapshotId: `snap-${(0x10000000 + i).toString(16)}`,
        attributeType: 'CREATE_VOLUME_PERMISSION',
        createVolumePermission: { add: { items: [{ userId: '999988887777' }] } },
      },
      response: { _return: true },
    });
  }
  return out;
}

/** shared_snapshot_consumed connected to a context that keeps its checkpoint handles; the watermark stays at -Infinity. */
function connectConsumed(): { input: Subject<CloudApiCallEvent>; handles: Map<string, CheckpointHandle>; close: () => void } {
  const handles = new Map<string, CheckpointHandle>();
  const base = createTestContext({ name: 'shared_snapshot_consumed', kind: 'detection' });
  const ctx: DetectionContext = {
    ...base,
    watermark$: new BehaviorSubject(Number.NEGATIVE_INFINITY),
    alerts$: NEVER,
    watermark: () => Number.NEGATIVE_INFINITY,
    late: () => {},
    reportError: () => {},
    registerState: () => {},
    registerCheckpoint: (name, handle) => {
      handles.set(name, handle);
    },
  };
  const input = new Subject<CloudApiCallEvent>();
  const sub = createAnalytic('shared_snapshot_consumed', { organization: { accounts: ['111122223333'] } })
    .connect(input, ctx)
    .subscribe((_f: Finding) => {});
  return { input, handles, close: () => sub.unsubscribe() };
}

export const suite: Suite = {
  name: 'checkpoint-detections',
  description: 't1537 state checkpoints: saving and restoring the workload index and held events, against building that state',
  async run(h: Harness): Promise<Figure[]> {
    const nPods = h.quick ? 5_000 : 50_000;
    const list = pods(nPods);
    // The state to save: learned once, then saved and restored repeatedly.
    const source = bundle();
    for (const p of list) source.environment.workloads.live.upsert(p, 'kubernetes');
    const handle = processorNamed(source, 'workload_identity').checkpoint;
    let text = '';
    let sink = 0;
    const index = await h.compare({
      learn: () => {
        const b = bundle();
        for (const p of list) b.environment.workloads.live.upsert(p, 'audit');
        sink += b.environment.workloads.live.size;
        return list.length;
      },
      save: () => {
        text = JSON.stringify(handle.snapshot());
        sink += text.length;
        return list.length;
      },
      restore: () => {
        const b = bundle();
        processorNamed(b, 'workload_identity').checkpoint.restore(JSON.parse(text));
        sink += b.environment.workloads.live.size;
        return list.length;
      },
    });
    const indexBytes = Buffer.byteLength(JSON.stringify(handle.snapshot()));

    const nHeld = h.quick ? 2_000 : 10_000; // shared_snapshot_consumed holds at most 10 000 by default
    const events = shares(nHeld);
    const held = connectConsumed();
    for (const e of events) held.input.next(e);
    const order = held.handles.get('order_buffer') as CheckpointHandle;
    let heldText = JSON.stringify(order.snapshot());
    const buffer = await h.compare({
      hold: () => {
        const c = connectConsumed();
        for (const e of events) c.input.next(e);
        c.close();
        return events.length;
      },
      save: () => {
        heldText = JSON.stringify(order.snapshot());
        sink += heldText.length;
        return events.length;
      },
      restore: () => {
        const c = connectConsumed();
        (c.handles.get('order_buffer') as CheckpointHandle).restore(JSON.parse(heldText));
        c.close();
        return events.length;
      },
    });
    held.close();
    if (sink === -1) console.log(sink);

    const ms = (m: { medianMs: number }) => Math.round(m.medianMs * 10) / 10;
    const learn = index.learn as { medianMs: number };
    const save = index.save as { medianMs: number };
    const restore = index.restore as { medianMs: number };
    const hold = buffer.hold as { medianMs: number };
    const bSave = buffer.save as { medianMs: number };
    const bRestore = buffer.restore as { medianMs: number };
    return [
      {
        id: 'checkpoint.workload_identity.save',
        title: `Save the workload identity index (${nPods} pods: snapshot + JSON.stringify)`,
        value: ms(save),
        unit: 'ms',
        ratio: { value: save.medianMs / learn.medianMs, to: 'learning the same pods (upsert)' },
        notes: `${Math.round(indexBytes / nPods)} bytes per pod (IP, container and name versions; identities written once)`,
      },
      {
        id: 'checkpoint.workload_identity.restore',
        title: `Restore the workload identity index (${nPods} pods: JSON.parse + restore)`,
        value: ms(restore),
        unit: 'ms',
        ratio: { value: restore.medianMs / learn.medianMs, to: 'learning the same pods (upsert)' },
      },
      {
        id: 'checkpoint.order_buffer.save',
        title: `Save ${nHeld} CloudTrail events held for ordering (shared_snapshot_consumed)`,
        value: ms(bSave),
        unit: 'ms',
        ratio: { value: bSave.medianMs / hold.medianMs, to: 'pushing the same events through the analytic' },
        notes: `${Math.round(Buffer.byteLength(heldText) / nHeld)} bytes per held event`,
      },
      {
        id: 'checkpoint.order_buffer.restore',
        title: `Restore ${nHeld} held CloudTrail events (JSON.parse + restore)`,
        value: ms(bRestore),
        unit: 'ms',
        ratio: { value: bRestore.medianMs / hold.medianMs, to: 'pushing the same events through the analytic' },
      },
    ];
  },
};
