import { readFileSync, writeFileSync } from 'node:fs';
import { PassThrough, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { type Alert, alertFromFinding, createPipeline, rule, T1537 } from '@outflow/core';
import { alert as buildAlert, createTestContext, exporterConformance, flowEvent, MemoryReceiver } from '@outflow/testkit';
import { defineConformanceTests } from '@outflow/testkit/vitest';
import { afterEach, describe, expect, it } from 'vitest';
import { ConsoleExporter, consoleExporter, formatAlert, terminalSafe, useColor } from '../src/index.js';

const T0 = Date.UTC(2024, 4, 1, 12, 30);

function sampleAlert(): Alert {
  const a = alertFromFinding(
    {
      detection: { id: 'egress_volume_anomaly', title: 'Unusual egress volume', attack: T1537 },
      severity: 'high',
      time: T0,
      workload: { cluster: 'prod-eu', namespace: 'payments', workloadKind: 'Deployment', workloadName: 'ledger', pod: 'ledger-7d9f-abcde' },
      evidence: [
        { source: 'aws_vpc_flow', id: 'eni-1:1' },
        { source: 'aws_vpc_flow', id: 'eni-1:2' },
        { source: 'aws_vpc_flow', id: 'eni-1:3' },
      ],
      explanation: {
        summary: 'ledger sent 5.2 GB to 203.0.113.10 in 5 min',
        observed: 'bytes_out=5.2 GB in 5 min',
        expected: 'p99 140 MB (median 12 MB)',
        score: 7.25,
        threshold: 4,
        baselineAgeMs: 14 * 86_400_000,
        samples: 4032,
        reasons: ['destination never seen from this workload', 'volume 37x the p99'],
      },
      dedupKey: 'ledger/203.0.113.10',
      response: { investigate: ['list the pods of ledger and their recent execs'], contain: ['apply the quarantine NetworkPolicy'] },
    },
    T0 + 1000,
  );
  return { ...a, count: 3, status: 'update', lastSeen: T0 + 240_000 };
}

const golden = (name: string) => fileURLToPath(new URL(`../testdata/${name}`, import.meta.url));
function checkGolden(name: string, actual: string) {
  if (process.env.UPDATE_GOLDEN === '1') writeFileSync(golden(name), actual);
  expect(actual).toBe(readFileSync(golden(name), 'utf8'));
}

class Capture extends Writable {
  text = '';
  isTTY?: boolean;
  constructor(options: { tty?: boolean; highWaterMark?: number; delayMs?: number } = {}) {
    super({ highWaterMark: options.highWaterMark ?? 16 * 1024, decodeStrings: false });
    if (options.tty) this.isTTY = true;
    this.delayMs = options.delayMs ?? 0;
  }
  private readonly delayMs: number;
  override _write(chunk: string | Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void) {
    this.text += chunk.toString();
    if (this.delayMs > 0) setTimeout(() => cb(), this.delayMs);
    else cb();
  }
}

describe('formatAlert', () => {
  it('renders the headline and the indented explanation (golden, plain)', () => {
    checkGolden('update-alert.txt', formatAlert(sampleAlert()));
  });

  it('renders with ANSI colours (golden)', () => {
    const text = formatAlert(sampleAlert(), { color: true });
    expect(text).toContain('\u001b[1m\u001b[31mHIGH');
    checkGolden('update-alert.color.txt', text);
  });

  it('renders only the headline without explain, and a minimal alert', () => {
    const a = buildAlert({ severity: 'low', explanation: { summary: 'tiny' } });
    const text = formatAlert(a, { explain: false });
    expect(text.split('\n')).toHaveLength(2);
    expect(text).toBe('2024-01-01T00:00:00.000Z  LOW       Test rule  -  tiny\n');
  });

  it('neutralises terminal escape sequences and newlines from alert fields', () => {
    const a = buildAlert({
      explanation: { summary: 'evil\u001b]0;pwned\u0007 \r\ninjected line', reasons: ['a\u009bb'] },
      workload: { namespace: 'ns', pod: 'p\u001b[2J' },
    });
    const text = formatAlert(a);
    for (const c of ['\u001b', '\u0007', '\r', '\u009b']) expect(text).not.toContain(c);
    expect(text).toContain('evil\\x1b]0;pwned\\x07 \\x0d\\x0ainjected line');
    expect(text).toContain('ns/Pod/p\\x1b[2J');
    expect(terminalSafe('a\u202eb')).toBe('a\\u202eb');
  });
});

describe('colour decision', () => {
  const saved = process.env.NO_COLOR;
  afterEach(() => {
    if (saved === undefined) delete process.env.NO_COLOR;
    else process.env.NO_COLOR = saved;
  });

  it('colours a TTY only, never with NO_COLOR, always when forced', () => {
    expect(useColor('auto', { isTTY: true }, {})).toBe(true);
    expect(useColor('auto', { isTTY: false }, {})).toBe(false);
    expect(useColor('auto', {}, {})).toBe(false);
    expect(useColor('auto', { isTTY: true }, { NO_COLOR: '1' })).toBe(false);
    expect(useColor('auto', { isTTY: true }, { NO_COLOR: '' })).toBe(true);
    expect(useColor('always', {}, { NO_COLOR: '1' })).toBe(true);
    expect(useColor('never', { isTTY: true }, {})).toBe(false);
  });

  it('the exporter writes colour to a TTY stream and plain text to a pipe', async () => {
    delete process.env.NO_COLOR;
    const tty = new Capture({ tty: true });
    const pipe = new Capture();
    const signal = new AbortController().signal;
    await new ConsoleExporter(createTestContext(), consoleExporter.validate({ stream: tty })).export([sampleAlert()], signal);
    await new ConsoleExporter(createTestContext(), consoleExporter.validate({ stream: pipe })).export([sampleAlert()], signal);
    expect(tty.text).toContain('\u001b[');
    expect(pipe.text).not.toContain('\u001b[');
    process.env.NO_COLOR = '1';
    const tty2 = new Capture({ tty: true });
    await new ConsoleExporter(createTestContext(), consoleExporter.validate({ stream: tty2 })).export([sampleAlert()], signal);
    expect(tty2.text).toBe(pipe.text);
  });
});

describe('ConsoleExporter', () => {
  it('waits for a slow stream to drain (backpressure) and loses nothing', async () => {
    const slow = new Capture({ highWaterMark: 64, delayMs: 2 });
    const exporter = new ConsoleExporter(createTestContext(), consoleExporter.validate({ stream: slow, explain: false }));
    const alerts = Array.from({ length: 200 }, (_, i) => buildAlert({ explanation: { summary: `alert ${i}` } }));
    for (let i = 0; i < alerts.length; i += 20) await exporter.export(alerts.slice(i, i + 20), new AbortController().signal);
    const lines = slow.text.trim().split('\n');
    expect(lines).toHaveLength(200);
    expect(lines.map((l) => l.split('  ').pop())).toEqual(alerts.map((a) => a.explanation.summary));
  });

  it('dead-letters a malformed alert and prints the rest', async () => {
    const out = new Capture();
    const ctx = createTestContext({ kind: 'exporter' });
    const exporter = new ConsoleExporter(ctx, consoleExporter.validate({ stream: out }));
    const bad = { ...buildAlert(), explanation: undefined } as unknown as Alert;
    const good = buildAlert({ explanation: { summary: 'still here' } });
    await exporter.export([bad, good], new AbortController().signal);
    expect(out.text).toContain('still here');
    expect(ctx.deadLetters).toHaveLength(1);
    expect(ctx.deadLetters[0]?.reason).toBe('invalid_alert');
    expect(ctx.deadLetters[0]?.raw).toContain(bad.id);
    expect(ctx.telemetry.total('errors', { reason: 'invalid_alert' })).toBe(1);
  });

  it('reports a failing stream as a permanent error', async () => {
    const broken = new Writable({
      write(_c, _e, cb) {
        cb(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
      },
    });
    broken.on('error', () => {});
    const exporter = new ConsoleExporter(createTestContext(), consoleExporter.validate({ stream: broken }));
    await expect(exporter.export([buildAlert()], new AbortController().signal)).rejects.toMatchObject({ name: 'PermanentError' });
  });

  it('rejects unknown options and bad values with their paths', () => {
    expect(() => consoleExporter.validate({ color: 'sometimes', maxEvidence: -1, colour: true }, 'exporters[0]')).toThrow(
      /exporters\[0\]\.color[\s\S]*exporters\[0\]\.maxEvidence[\s\S]*exporters\[0\]: unknown key "colour"/,
    );
  });

  it('prints the alerts of a pipeline run, routed by severity, with static labels', async () => {
    const out = new Capture();
    const events = Array.from({ length: 6 }, (_, i) => flowEvent({ time: T0 + i * 1000, bytes: i, sourceId: `f${i}` }));
    const pipeline = createPipeline({
      receivers: [new MemoryReceiver(events)],
      detections: [
        rule({
          id: 'bytes',
          title: 'Bytes',
          severity: 'low',
          kinds: ['network_flow'],
          match: (e) => ({ severity: (e.bytes ?? 0) >= 3 ? 'high' : 'low', dedupKey: String(e.bytes), explanation: { summary: `sent ${e.bytes}` } }),
        }),
      ],
      exporters: [consoleExporter({ stream: out, route: { minSeverity: 'high' }, labels: { environment: 'test' } })],
    });
    await pipeline.start();
    await pipeline.done;
    await pipeline.shutdown();
    const headlines = out.text.split('\n').filter((l) => /^\d{4}-/.test(l));
    expect(headlines.map((l) => l.split('  ').pop())).toEqual(['sent 3', 'sent 4', 'sent 5']);
    expect(pipeline.telemetry.total('dropped', { component: 'console', reason: 'filtered' })).toBe(3);
  });
});

defineConformanceTests(
  'console exporter conformance',
  exporterConformance({
    factory: consoleExporter,
    async setup() {
      const out = new PassThrough();
      let text = '';
      out.on('data', (d: Buffer) => {
        text += d.toString();
      });
      return {
        config: { stream: out },
        received: async () => [...text.matchAll(/alert\s+([0-9a-f]{32}) /g)].map((m) => m[1] as string),
      };
    },
  }),
);
