import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@outflow/testkit';
import { describe, expect, it } from 'vitest';
import { NetflowDecoder } from '../src/decoder.js';
import { encodeIpfix, encodeV5, encodeV9, type FieldSpec, type FlowSpec, IPFIX_IPV4_FIELDS } from '../src/encoder.js';
import { decodeDatagrams } from './helpers.js';

// Cross-check of the encoder and the decoder against an independent implementation: nfdump's collector
// (nfcapd) receives the encoder's datagrams on 127.0.0.1, nfdump prints what it stored, and that must match
// what our decoder makes of the same datagrams. Skipped when nfdump is not installed (apt-get install nfdump).

const installed = !spawnSync('nfcapd', ['-V']).error && !spawnSync('nfdump', ['-V']).error;
if (!installed) console.warn('nfdump cross-check: skipped, nfcapd/nfdump not installed (apt-get install nfdump)');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const EXPORT = Date.UTC(2024, 5, 1, 12, 0, 0);

const flows: FlowSpec[] = [
  {
    src: '10.0.0.5',
    dst: '203.0.113.10',
    srcPort: 40000,
    dstPort: 443,
    protocol: 6,
    bytes: 123456,
    packets: 100,
    start: EXPORT - 65_250,
    end: EXPORT - 5_125,
    tcpFlags: 0x1b,
  },
  { src: '192.168.1.9', dst: '198.51.100.53', srcPort: 5353, dstPort: 53, protocol: 17, bytes: 80, packets: 1, start: EXPORT - 2_000, end: EXPORT - 2_000 },
  {
    src: '2001:db8::1',
    dst: 'fd00::5:0:1',
    srcPort: 443,
    dstPort: 50000,
    protocol: 6,
    bytes: 9_000_000_000,
    packets: 6_000_000,
    start: EXPORT - 600_000,
    end: EXPORT - 1_000,
  },
];
/** An IPFIX layout with a variable-length element and an enterprise element in the middle, and RFC 5103 reverse counters. */
const awkward: FieldSpec[] = [
  { id: 82, length: 65535 },
  ...IPFIX_IPV4_FIELDS.slice(0, 5),
  { id: 4242, length: 6, pen: 9 },
  ...IPFIX_IPV4_FIELDS.slice(5),
  { id: 1, length: 8, pen: 29305 },
  { id: 2, length: 8, pen: 29305 },
];

interface Row {
  start: number;
  end: number;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  protocol: number;
  packets: number;
  bytes: number;
}

function nfdumpRows(file: string): Row[] {
  const out = spawnSync('nfdump', ['-q', '-N', '-6', '-r', file, '-o', 'fmt:%ts|%te|%sa|%da|%sp|%dp|%pr|%ipkt|%ibyt'], {
    encoding: 'utf8',
    env: { ...process.env, TZ: 'UTC' },
  });
  return out.stdout
    .split('\n')
    .filter((l) => l.includes('|'))
    .map((line) => {
      const [ts, te, sa, da, sp, dp, pr, pkt, byt] = line.split('|').map((s) => s.trim()) as string[];
      const proto = pr === 'TCP' ? 6 : pr === 'UDP' ? 17 : Number(pr);
      return {
        start: Date.parse(`${(ts as string).replace(' ', 'T')}Z`),
        end: Date.parse(`${(te as string).replace(' ', 'T')}Z`),
        src: sa as string,
        dst: da as string,
        srcPort: Number(sp),
        dstPort: Number(dp),
        protocol: proto,
        packets: Number(pkt),
        bytes: Number(byt),
      };
    });
}

describe.skipIf(!installed)('nfdump cross-check', () => {
  it('nfcapd + nfdump read the encoder’s v5, v9 and IPFIX datagrams as our decoder does', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'outflow-nfcapd-'));
    const port = await freePort();
    const datagrams = [
      encodeV5(flows.slice(0, 2), { exportTime: EXPORT + 250, engineId: 1 }),
      encodeV9(flows, { exportTime: EXPORT, sourceId: 2, sequence: 1 }),
      encodeIpfix(flows, { exportTime: EXPORT, domain: 3, sequence: 1 }),
      encodeIpfix(
        flows.map((f, i) => ({ ...f, reverseBytes: 10 * i, reversePackets: i, values: { '82': `eth${i}`, '9.4242': 0x0102030405n } })),
        { exportTime: EXPORT, domain: 4, sequence: 1, fields: { ipv4: awkward, ipv6: [{ id: 27, length: 16 }, { id: 28, length: 16 }, ...awkward.slice(3)] } },
      ),
    ];
    let nfcapd: ChildProcess | undefined;
    try {
      nfcapd = spawn('nfcapd', ['-w', dir, '-b', '127.0.0.1', '-p', String(port), '-P', join(dir, 'nfcapd.pid')], { stdio: 'ignore' });
      for (let i = 0; i < 50 && !existsSync(join(dir, 'nfcapd.pid')); i++) await sleep(100);
      await sleep(300);
      const socket = createSocket('udp4');
      for (const d of datagrams) {
        await new Promise<void>((resolve, reject) => socket.send(d, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
        await sleep(20);
      }
      socket.close();
      await sleep(300);
      const exited = new Promise((r) => nfcapd?.once('exit', r));
      nfcapd.kill('SIGTERM');
      await exited;
      const file = readdirSync(dir).find((f) => f.startsWith('nfcapd.') && !f.endsWith('.pid'));
      expect(file, 'nfcapd wrote no file').toBeDefined();
      const theirs = nfdumpRows(join(dir, file as string));

      const ours = decodeDatagrams(new NetflowDecoder(), datagrams, { exporter: '127.0.0.1' });
      expect(ours.errors).toEqual([]);
      const mine: Row[] = ours.events.map((e) => ({
        start: e.start as number,
        end: e.end as number,
        src: e.src.address,
        dst: e.dst.address,
        srcPort: e.src.port as number,
        dstPort: e.dst.port as number,
        protocol: e.protocol as number,
        packets: e.packets as number,
        bytes: e.bytes as number,
      }));
      const order = (a: Row, b: Row) => JSON.stringify(a).localeCompare(JSON.stringify(b));
      expect(theirs).toHaveLength(2 + 3 + 3 + 3);
      // v9 headers keep whole seconds, so both sides agree to the millisecond only because the encoder exports on a whole second
      expect([...theirs].sort(order)).toEqual([...mine].sort(order));
    } finally {
      if (nfcapd && nfcapd.exitCode === null) nfcapd.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
