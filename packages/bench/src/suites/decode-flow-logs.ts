import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ComponentFactory, DecodeMeta, Decoder, DecodeSink, OutflowEvent, Receiver } from '@outflow/core';
import { AzureFlowDecoder, GcpFlowDecoder, HubbleDecoder, VpcFlowDecoder, vpcFlowLogs } from '@outflow/receiver-flow-logs';
import { createTestContext, createTestHost } from '@outflow/testkit';
import type { Figure, Harness, Suite } from '../harness.js';
import { rng } from '../random.js';

/**
 * Flow log decoders: events/s of each decoder on a generated file of realistic
 * records, measured side by side (harness.compare) with the bare parse of the
 * same bytes: `split('\n')` + `split(' ')` for VPC text, `split('\n')` +
 * `JSON.parse` for JSON lines, `JSON.parse` + `split(',')` of every tuple for
 * Azure documents. Plus the VPC file receiver (io FileSource + decoder, a real
 * file on disk) against `readFileSync`-free bare parse of the same text.
 */

const T0 = 1709287200;
const V2_HEADER = 'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status';
const V5_HEADER =
  'version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr srcport dstport pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags log-status region az-id sublocation-type sublocation-id pkt-src-aws-service pkt-dst-aws-service flow-direction traffic-path';

/** S3 delivery of the default format: a header, then flows of a few hundred ENIs; 1 % NODATA records. */
function vpcV2(n: number): string {
  const r = rng(7);
  const lines = [V2_HEADER];
  for (let i = 0; i < n; i++) {
    const eni = `eni-0${(r() % 400).toString(16).padStart(16, '0')}`;
    const start = T0 + (i >> 8);
    if (r() % 100 === 0) {
      lines.push(`2 123456789010 ${eni} - - - - - - - ${start} ${start + 60} - NODATA`);
      continue;
    }
    const local = `10.${r() % 4}.${r() % 256}.${r() % 254}`;
    const remote = r() % 3 === 0 ? `172.31.${r() % 256}.${r() % 254}` : `${(r() % 200) + 3}.${r() % 256}.${r() % 256}.${r() % 254}`;
    const out = r() % 2 === 0;
    const eph = 32768 + (r() % 28000);
    const svc = [443, 80, 5432, 6379, 53, 8080][r() % 6] as number;
    const packets = 1 + (r() % 5000);
    const bytes = packets * (40 + (r() % 1400));
    const action = r() % 20 === 0 ? 'REJECT' : 'ACCEPT';
    lines.push(
      out
        ? `2 123456789010 ${eni} ${local} ${remote} ${eph} ${svc} 6 ${packets} ${bytes} ${start} ${start + 60} ${action} OK`
        : `2 123456789010 ${eni} ${remote} ${local} ${svc} ${eph} 6 ${packets} ${bytes} ${start} ${start + 60} ${action} OK`,
    );
  }
  return lines.join('\n');
}

/** A v5 custom format (29 fields, flow-direction and traffic-path present). */
function vpcV5(n: number): string {
  const r = rng(11);
  const lines = [V5_HEADER];
  for (let i = 0; i < n; i++) {
    const start = T0 + (i >> 8);
    const local = `10.${r() % 4}.${r() % 256}.${r() % 254}`;
    const remote = `${(r() % 200) + 3}.${r() % 256}.${r() % 256}.${r() % 254}`;
    const packets = 1 + (r() % 5000);
    const out = r() % 2 === 0;
    const [src, dst] = out ? [local, remote] : [remote, local];
    lines.push(
      `5 vpc-0a1b2c3d4e5f60718 subnet-0aa1bb2cc3dd4ee5${r() % 4} i-0123456789012345${r() % 10} eni-0f1e2d3c4b5a6978${r() % 10} 123456789010 IPv4 ${src} ${dst} ${32768 + (r() % 28000)} 443 ${src} ${dst} 6 ${packets * 900} ${packets} ${start} ${start + 60} ACCEPT ${r() % 32} OK us-east-1 use1-az${1 + (r() % 3)} - - - - ${out ? 'egress' : 'ingress'} ${out ? 8 : '-'}`,
    );
  }
  return lines.join('\n');
}

function gcpLines(n: number): string {
  const r = rng(13);
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const t = new Date((T0 + i) * 1000).toISOString();
    lines.push(
      JSON.stringify({
        insertId: `${(r() % 1e9).toString(36)}${i.toString(36)}`,
        jsonPayload: {
          bytes_sent: String(r() % 10_000_000),
          packets_sent: String(r() % 10_000),
          connection: {
            src_ip: `10.8.${r() % 256}.${r() % 254}`,
            src_port: 32768 + (r() % 28000),
            dest_ip: `203.0.${r() % 256}.${r() % 254}`,
            dest_port: 443,
            protocol: 6,
          },
          reporter: 'SRC',
          start_time: t,
          end_time: t,
          src_instance: { project_id: 'acme-prod', region: 'us-central1', vm_name: `gke-prod-pool-${r() % 50}`, zone: 'us-central1-a' },
          src_vpc: { project_id: 'acme-prod', subnetwork_name: 'gke-subnet', vpc_name: 'prod-vpc' },
          src_gke_details: {
            cluster: { cluster_location: 'us-central1', cluster_name: 'prod-gke' },
            pod: { pod_name: `api-${r() % 300}`, pod_namespace: `team-${r() % 20}`, pod_workload: { workload_name: 'api', workload_type: 'DEPLOYMENT' } },
          },
          dest_location: { continent: 'America', country: 'usa', region: 'Virginia', city: 'Ashburn', asn: 64500 },
        },
        logName: 'projects/acme-prod/logs/compute.googleapis.com%2Fvpc_flows',
        resource: { type: 'gce_subnetwork', labels: { project_id: 'acme-prod', subnetwork_name: 'gke-subnet' } },
        timestamp: t,
      }),
    );
  }
  return lines.join('\n');
}

/** VNet flow log blobs: `docs` documents of 60 records × 50 tuples. */
function azureDocs(docs: number): string[] {
  const r = rng(17);
  const out: string[] = [];
  for (let d = 0; d < docs; d++) {
    const records = [];
    for (let k = 0; k < 60; k++) {
      const tuples: string[] = [];
      for (let j = 0; j < 50; j++) {
        tuples.push(
          `${(T0 + d * 60 + k) * 1000 + j},10.0.${r() % 256}.${r() % 254},198.51.${r() % 256}.${r() % 254},${32768 + (r() % 28000)},443,6,O,${'BCE'[r() % 3]},NX,${r() % 1000},${r() % 1_000_000},${r() % 1000},${r() % 100_000}`,
        );
      }
      records.push({
        time: new Date((T0 + d * 60 + k) * 1000).toISOString(),
        flowLogVersion: 4,
        flowLogGUID: '66aa66aa-bb77-cc88-dd99-00ee00ee00ee',
        macAddress: '112233445566',
        category: 'FlowLogFlowEvent',
        flowLogResourceID:
          '/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000000/RESOURCEGROUPS/NETWORKWATCHERRG/PROVIDERS/MICROSOFT.NETWORK/NETWORKWATCHERS/NW/FLOWLOGS/VNETFLOWLOG',
        targetResourceID: '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet',
        operationName: 'FlowLogFlowEvent',
        flowRecords: {
          flows: [{ aclID: '00aa00aa-bb11-cc22-dd33-44ee44ee44ee', flowGroups: [{ rule: 'DefaultRule_AllowInternetOutBound', flowTuples: tuples }] }],
        },
      });
    }
    out.push(JSON.stringify({ records }));
  }
  return out;
}

function hubbleLines(n: number): string {
  const r = rng(19);
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const t = new Date((T0 + i) * 1000).toISOString();
    const ns = `team-${r() % 20}`;
    lines.push(
      JSON.stringify({
        flow: {
          time: t,
          uuid: `5d6f1b6e-0c1d-4c39-9a4e-${i.toString(16).padStart(12, '0')}`,
          verdict: 'FORWARDED',
          ethernet: { source: '0a:58:0a:f4:01:3c', destination: '0a:58:0a:f4:01:01' },
          IP: { source: `10.244.${r() % 256}.${r() % 254}`, destination: `198.51.${r() % 256}.${r() % 254}`, ipVersion: 'IPv4' },
          l4: { TCP: { source_port: 32768 + (r() % 28000), destination_port: 443, flags: { SYN: true } } },
          source: {
            ID: r() % 4000,
            identity: 50000 + (r() % 1000),
            namespace: ns,
            labels: [`k8s:app=api-${r() % 30}`, `k8s:io.kubernetes.pod.namespace=${ns}`],
            pod_name: `api-${r() % 300}`,
            workloads: [{ name: 'api', kind: 'Deployment' }],
          },
          destination: { identity: 2, labels: ['reserved:world'] },
          Type: 'L3_L4',
          node_name: `prod/ip-10-0-${r() % 8}-20`,
          event_type: { type: 4, sub_type: 3 },
          traffic_direction: 'EGRESS',
          is_reply: false,
          Summary: 'TCP Flags: SYN',
        },
        node_name: `prod/ip-10-0-${r() % 8}-20`,
        time: t,
      }),
    );
  }
  return lines.join('\n');
}

/** Decode each line as @outflow/io's file receiver does: one reused meta, line numbers updated, the file's first line given. */
function decodeLines(decoder: Decoder<string>, text: string): number {
  let n = 0;
  const sink: DecodeSink = {
    event: (_e: OutflowEvent) => {
      n++;
    },
    error: () => {},
  };
  const lines = text.split('\n');
  const meta: DecodeMeta = { observedTime: 0, location: '/var/log/flows/bench.log', line: 0, firstLine: lines[0], receiver: 'bench' };
  for (let i = 0; i < lines.length; i++) {
    meta.line = i + 1;
    decoder.decode(lines[i] as string, sink, meta);
  }
  return n;
}

function decodeDocs(decoder: Decoder<string>, docs: readonly string[]): number {
  let n = 0;
  const sink: DecodeSink = { event: () => void n++, error: () => {} };
  const meta: DecodeMeta = { observedTime: 0, location: '/blobs/PT1H.json', line: 1, receiver: 'bench' };
  for (const d of docs) decoder.decode(d, sink, meta);
  return n;
}

function bareSplit(text: string): number {
  let fields = 0;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) fields += (lines[i] as string).split(' ').length;
  return fields > 0 ? lines.length - 1 : 0; // minus the header: the same item count as the decoder (NODATA included)
}

function bareJson(text: string): number {
  let n = 0;
  for (const line of text.split('\n')) if (JSON.parse(line)) n++;
  return n;
}

function bareAzure(docs: readonly string[]): number {
  let n = 0;
  for (const d of docs) {
    const doc = JSON.parse(d) as { records: { flowRecords: { flows: { flowGroups: { flowTuples: string[] }[] }[] } }[] };
    for (const r of doc.records)
      for (const f of r.flowRecords.flows) for (const g of f.flowGroups) for (const t of g.flowTuples) n += t.split(',').length > 0 ? 1 : 0;
  }
  return n;
}

/**
 * CPU time (user + system, all threads) of two bodies run interleaved, the
 * median of `runs`: on a machine shared with other work, wall time charges a
 * body for waiting on the CPU; CPU time charges only the work (GC threads included).
 */
function cpuCompare(a: () => number, b: () => number, runs: number): { a: number; b: number } {
  const ta: number[] = [];
  const tb: number[] = [];
  for (let i = 0; i < runs + 1; i++) {
    for (const [body, out] of [
      [a, ta],
      [b, tb],
    ] as const) {
      const start = process.cpuUsage();
      body();
      const used = process.cpuUsage(start);
      if (i > 0) out.push(used.user + used.system);
    }
  }
  const median = (v: number[]) => v.sort((x, y) => x - y)[v.length >> 1] as number;
  return { a: median(ta), b: median(tb) };
}

function figure(id: string, title: string, decoded: number, bare: number, to: string, target?: number, notes?: string): Figure {
  const ratio = bare > 0 ? decoded / bare : 0;
  const f: Figure = { id, title, value: decoded, unit: 'events/s', ratio: { value: ratio, to } };
  if (target !== undefined) {
    f.target = `>= ${target} of ${to}`;
    f.met = ratio >= target;
  }
  if (notes) f.notes = notes;
  return f;
}

/** A body that runs the VPC file receiver over `text` written to a real file, counting emitted events. */
function receiverBody(h: Harness, text: string): () => Promise<number> {
  const path = join(h.tmpDir(), 'flows.log');
  writeFileSync(path, text);
  const factory = vpcFlowLogs as unknown as ComponentFactory<unknown, Receiver>;
  const config = factory.validate({ file: { paths: [path], batchSize: 2000 } });
  return async () => {
    const ctx = createTestContext({ name: 'aws_vpc_flow', type: 'aws_vpc_flow', kind: 'receiver' });
    const host = createTestHost({ ctx });
    // count instead of keeping every event, like a pipeline that consumes them
    let n = 0;
    host.emit = async (batch) => {
      n += batch.length;
    };
    const receiver = factory.create(ctx, config);
    await receiver.start(host);
    await host.waitForComplete(600_000);
    await receiver.shutdown();
    return n;
  };
}

export const suite: Suite = {
  name: 'decode-flow-logs',
  description: 'Flow log decoders (AWS VPC v2/v5, GCP, Azure VNet, Hubble) and the VPC file receiver, against bare parsing of the same bytes',
  async run(h) {
    const figures: Figure[] = [];
    const n = h.quick ? 30_000 : 150_000;
    const check = (what: string, got: number, want: number) => {
      if (got !== want) throw new Error(`${what}: decoded ${got} events, expected ${want}`);
      return got;
    };

    const v2 = vpcV2(n);
    const v2Flows = v2.split('\n').filter((l) => l.endsWith(' OK')).length;
    const vpc = new VpcFlowDecoder();
    // items per second on both sides are records (lines); NODATA lines count as decoded records
    const v2Runs = await h.compare({
      decoder: () => check('aws_vpc_flow v2', decodeLines(vpc, v2), v2Flows) + (n - v2Flows),
      bare: () => bareSplit(v2),
    });
    figures.push(
      figure(
        'decode.aws_vpc_flow.v2',
        'AWS VPC flow log decode, default v2 format (S3 file with header)',
        v2Runs.decoder?.perSecond ?? 0,
        v2Runs.bare?.perSecond ?? 0,
        "bare split('\\n') + split(' ')",
        0.5,
        `${n} lines, ${(v2.length / 2 ** 20).toFixed(1)} MiB; bare ${Math.round(v2Runs.bare?.perSecond ?? 0)} lines/s`,
      ),
    );
    const v2Cpu = cpuCompare(
      () => decodeLines(vpc, v2),
      () => bareSplit(v2),
      h.quick ? 3 : 5,
    );
    figures.push({
      id: 'decode.aws_vpc_flow.v2.cpu',
      title: 'AWS VPC flow log decode, v2, in CPU time',
      value: (n / v2Cpu.a) * 1e6,
      unit: 'lines/CPU-s',
      ratio: { value: v2Cpu.b / v2Cpu.a, to: "bare split('\\n') + split(' ') in CPU time" },
      target: ">= 0.5 of bare split('\\n') + split(' ')",
      met: v2Cpu.b / v2Cpu.a >= 0.5,
      notes: 'process.cpuUsage (user + system, GC threads included) of the same bodies run interleaved: robust to other load on the machine',
    });

    const v5 = vpcV5(n);
    const v5Runs = await h.compare({ decoder: () => check('aws_vpc_flow v5', decodeLines(vpc, v5), n), bare: () => bareSplit(v5) });
    figures.push(
      figure(
        'decode.aws_vpc_flow.v5',
        'AWS VPC flow log decode, custom v5 format (29 fields)',
        v5Runs.decoder?.perSecond ?? 0,
        v5Runs.bare?.perSecond ?? 0,
        "bare split('\\n') + split(' ')",
        0.5,
        `${n} lines, ${(v5.length / 2 ** 20).toFixed(1)} MiB`,
      ),
    );

    const receive = receiverBody(h, v2);
    const recvRuns = await h.compare({ receiver: () => receive(), bare: () => bareSplit(v2) }, { runs: h.quick ? 2 : 3 });
    figures.push(
      figure(
        'receive.aws_vpc_flow.file',
        'AWS VPC flow log file receiver (io FileSource read + decode + emit), v2 file on disk',
        recvRuns.receiver?.perSecond ?? 0,
        recvRuns.bare?.perSecond ?? 0,
        "bare split('\\n') + split(' ') of the text in memory",
        undefined,
        'events/s emitted (NODATA lines are read but not emitted)',
      ),
    );

    const gcpN = h.quick ? 5_000 : 50_000;
    const gcp = gcpLines(gcpN);
    const gcpDecoder = new GcpFlowDecoder();
    const gcpRuns = await h.compare({ decoder: () => check('gcp_vpc_flow', decodeLines(gcpDecoder, gcp), gcpN), bare: () => bareJson(gcp) });
    figures.push(
      figure(
        'decode.gcp_vpc_flow',
        'GCP VPC flow log decode (LogEntry JSON lines with GKE details)',
        gcpRuns.decoder?.perSecond ?? 0,
        gcpRuns.bare?.perSecond ?? 0,
        "bare split('\\n') + JSON.parse",
        0.5,
        `${gcpN} entries`,
      ),
    );

    const az = azureDocs(h.quick ? 3 : 30);
    const azN = az.length * 60 * 50;
    const azDecoder = new AzureFlowDecoder();
    const azRuns = await h.compare({ decoder: () => check('azure_flow', decodeDocs(azDecoder, az), azN), bare: () => bareAzure(az) });
    figures.push(
      figure(
        'decode.azure_flow',
        'Azure VNet flow log decode (documents of 3000 tuples)',
        azRuns.decoder?.perSecond ?? 0,
        azRuns.bare?.perSecond ?? 0,
        "bare JSON.parse + split(',') of every tuple",
        0.5,
        `${azN} tuples in ${az.length} documents`,
      ),
    );

    const hubN = h.quick ? 5_000 : 50_000;
    const hub = hubbleLines(hubN);
    const hubDecoder = new HubbleDecoder();
    const hubRuns = await h.compare({ decoder: () => check('hubble', decodeLines(hubDecoder, hub), hubN), bare: () => bareJson(hub) });
    figures.push(
      figure(
        'decode.hubble',
        'Hubble flow decode (exporter JSON lines)',
        hubRuns.decoder?.perSecond ?? 0,
        hubRuns.bare?.perSecond ?? 0,
        "bare split('\\n') + JSON.parse",
        0.5,
        `${hubN} flows`,
      ),
    );
    return figures;
  },
};
