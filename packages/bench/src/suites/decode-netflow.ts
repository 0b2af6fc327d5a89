import type { NetworkFlowEvent } from '@outflow/core';
import { encodeIpfix, encodeV9, type FieldSpec, type FlowSpec, IPFIX_IPV4_FIELDS, NetflowDecoder } from '@outflow/receiver-netflow';
import type { Figure, Harness, Suite } from '../harness.js';
import { rng } from '../random.js';

/**
 * NetFlow v9 and IPFIX decoding: flow records/s of NetflowDecoder on datagrams
 * of 30 records each (templates cached, the steady state of a collector),
 * measured side by side (harness.compare) with a bare loop that walks the same
 * datagrams with DataView and reads every field of every record into a sum.
 */

/** softflowd's NetFlow v9 IPv4 template (16 fields, 41-byte records). */
const V9_FIELDS: FieldSpec[] = [
  { id: 8, length: 4 },
  { id: 12, length: 4 },
  { id: 22, length: 4 },
  { id: 21, length: 4 },
  { id: 1, length: 4 },
  { id: 2, length: 4 },
  { id: 10, length: 4 },
  { id: 14, length: 4 },
  { id: 61, length: 1 },
  { id: 136, length: 1 },
  { id: 7, length: 2 },
  { id: 11, length: 2 },
  { id: 4, length: 1 },
  { id: 6, length: 1 },
  { id: 60, length: 1 },
  { id: 5, length: 1 },
];
const RECORDS_PER_DATAGRAM = 30;
const EXPORT = Date.UTC(2024, 0, 1, 12);

function flows(r: () => number, n: number): FlowSpec[] {
  const out: FlowSpec[] = [];
  for (let i = 0; i < n; i++) {
    const packets = 1 + (r() % 5000);
    const end = EXPORT - (r() % 60_000);
    const local = `10.${r() % 4}.${r() % 256}.${r() % 254}`;
    const remote = `${(r() % 200) + 3}.${r() % 256}.${r() % 256}.${r() % 254}`;
    const out_ = r() % 2 === 0;
    out.push({
      src: out_ ? local : remote,
      dst: out_ ? remote : local,
      srcPort: out_ ? 32768 + (r() % 28000) : 443,
      dstPort: out_ ? 443 : 32768 + (r() % 28000),
      protocol: r() % 10 === 0 ? 17 : 6,
      packets,
      bytes: packets * (40 + (r() % 1400)),
      start: end - (r() % 300_000),
      end,
      tcpFlags: r() % 64,
      inputInterface: 1 + (r() % 4),
      outputInterface: 1 + (r() % 4),
      direction: out_ ? 'egress' : 'ingress',
    });
  }
  return out;
}

interface Workload {
  templates: Uint8Array;
  datagrams: Uint8Array[];
}

function workload(version: 9 | 10, count: number): Workload {
  const r = rng(version);
  const datagrams: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const batch = flows(r, RECORDS_PER_DATAGRAM);
    datagrams.push(
      version === 9
        ? encodeV9(batch, { exportTime: EXPORT, sequence: i, include: 'data', fields: { ipv4: V9_FIELDS } })
        : encodeIpfix(batch, { exportTime: EXPORT, sequence: i * RECORDS_PER_DATAGRAM, include: 'data' }),
    );
  }
  const templates =
    version === 9
      ? encodeV9([], { exportTime: EXPORT, include: 'templates', fields: { ipv4: V9_FIELDS } })
      : encodeIpfix([], { exportTime: EXPORT, include: 'templates' });
  return { templates, datagrams };
}

/** Walk the sets of each datagram and read every field of every record with DataView: the floor any decoder pays. */
function bareLoop(datagrams: readonly Uint8Array[], header: number, lengths: readonly number[]): { records: number; sum: number } {
  let records = 0;
  let sum = 0;
  const recordLength = lengths.reduce((a, b) => a + b, 0);
  for (const d of datagrams) {
    const view = new DataView(d.buffer, d.byteOffset, d.byteLength);
    let pos = header;
    while (pos + 4 <= d.length) {
      const setLength = view.getUint16(pos + 2);
      const end = pos + setLength;
      let p = pos + 4;
      while (end - p >= recordLength) {
        for (const len of lengths) {
          if (len === 1) sum += view.getUint8(p);
          else if (len === 2) sum += view.getUint16(p);
          else if (len === 4) sum += view.getUint32(p);
          else sum += view.getUint32(p) * 4294967296 + view.getUint32(p + 4);
          p += len;
        }
        records++;
      }
      pos = end;
    }
  }
  return { records, sum };
}

function decodeAllDatagrams(decoder: NetflowDecoder, datagrams: readonly Uint8Array[]): number {
  let n = 0;
  let last: NetworkFlowEvent | undefined;
  const sink = {
    event: (e: NetworkFlowEvent) => {
      n++;
      last = e;
    },
    error: () => {
      throw new Error('unexpected decode error in benchmark input');
    },
  };
  const meta = { observedTime: EXPORT, location: 'udp://192.0.2.1:2055' };
  for (const d of datagrams) decoder.decode(d, '192.0.2.1', sink, meta);
  if (last === undefined) throw new Error('nothing decoded');
  return n;
}

async function measure(harness: Harness, version: 9 | 10, count: number): Promise<Figure> {
  const { templates, datagrams } = workload(version, count);
  const decoder = new NetflowDecoder();
  decoder.decode(templates, '192.0.2.1', { event: () => {}, error: () => {} }, { observedTime: EXPORT });
  const lengths = (version === 9 ? V9_FIELDS : IPFIX_IPV4_FIELDS).map((f) => f.length);
  let sink = 0;
  const results = await harness.compare({
    decoder: () => decodeAllDatagrams(decoder, datagrams),
    bare: () => {
      const { records, sum } = bareLoop(datagrams, version === 9 ? 20 : 16, lengths);
      sink += sum;
      return records;
    },
  });
  if (sink === 0) throw new Error('bare loop read nothing');
  const decoded = results.decoder as { perSecond: number; items: number };
  const bare = results.bare as { perSecond: number; items: number };
  if (decoded.items !== count * RECORDS_PER_DATAGRAM || bare.items !== decoded.items)
    throw new Error(`record counts differ: ${decoded.items} vs ${bare.items}`);
  const name = version === 9 ? 'NetFlow v9' : 'IPFIX';
  return {
    id: `decode.${version === 9 ? 'netflow_v9' : 'ipfix'}`,
    title: `${name} decode, ${RECORDS_PER_DATAGRAM} records/datagram (${lengths.length} fields), templates cached`,
    value: decoded.perSecond,
    unit: 'records/s',
    ratio: { value: decoded.perSecond / bare.perSecond, to: 'bare DataView loop reading the same fields' },
    target: '>= 500 000 records/s',
    met: decoded.perSecond >= 500_000,
    notes: `${count} datagrams per run; bare loop ${Math.round(bare.perSecond).toLocaleString('en-US')} records/s`,
  };
}

export const suite: Suite = {
  name: 'decode-netflow',
  description: 'NetFlow v9 and IPFIX decoder throughput (records/s) against a bare DataView loop over the same datagrams',
  async run(harness) {
    const count = harness.quick ? 200 : 4000;
    return [await measure(harness, 9, count), await measure(harness, 10, count)];
  },
};
