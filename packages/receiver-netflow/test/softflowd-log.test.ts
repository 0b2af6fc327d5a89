import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NetworkFlowEvent } from '@outflow/core';
import { describe, expect, it } from 'vitest';
import { NetflowDecoder } from '../src/decoder.js';
import { decodeDatagrams, readCapture, TESTDATA } from './helpers.js';

// An independent check of the decoder: softflowd's own debug log (testdata/softflowd/<capture>/softflowd-expired.log,
// written by `softflowd -D` while it exported the capture) lists every flow it sent. Each one must come out of
// the decoder with the same endpoints, protocol, counters and times.

interface LoggedFlow {
  src: string;
  srcPort: number;
  dst: string;
  dstPort: number;
  protocol: number;
  bytes: number;
  packets: number;
  reverseBytes: number;
  reversePackets: number;
  start: number;
  end: number;
}

const LINE =
  /^EXPIRED: seq:\d+ \[([^\]]+)\]:(\d+) <> \[([^\]]+)\]:(\d+) proto:(\d+) octets>:(\d+) packets>:(\d+) octets<:(\d+) packets<:(\d+) start:(\S+) finish:(\S+) /;

function loggedFlows(capture: string): LoggedFlow[] {
  const text = readFileSync(join(TESTDATA, 'softflowd', capture, 'softflowd-expired.log'), 'utf8');
  return text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((line) => {
      const m = LINE.exec(line);
      if (!m) throw new Error(`unexpected log line: ${line}`);
      // softflowd printed local time; the captures were recorded on a UTC machine
      return {
        src: m[1] as string,
        srcPort: Number(m[2]),
        dst: m[3] as string,
        dstPort: Number(m[4]),
        protocol: Number(m[5]),
        bytes: Number(m[6]),
        packets: Number(m[7]),
        reverseBytes: Number(m[8]),
        reversePackets: Number(m[9]),
        start: Date.parse(`${m[10]}Z`),
        end: Date.parse(`${m[11]}Z`),
      };
    });
}

function key(f: { src: string; dst: string; protocol: number; srcPort: number; dstPort: number }): string {
  return `${f.src}|${f.srcPort}|${f.dst}|${f.dstPort}|${f.protocol}`;
}

function eventKey(e: NetworkFlowEvent): string {
  const icmp = e.protocol === 1 || e.protocol === 58;
  const attrs = e.attributes ?? {};
  // ICMP flows: softflowd logs type * 256 + code as the destination port
  const dstPort = icmp ? (attrs['netflow.icmp_type'] as number) * 256 + (attrs['netflow.icmp_code'] as number) : (e.dst.port ?? -1);
  return key({ src: e.src.address, srcPort: icmp ? 0 : (e.src.port ?? -1), dst: e.dst.address, dstPort, protocol: e.protocol ?? -1 });
}

describe("decoded captures agree with softflowd's own log of what it exported", () => {
  // [capture, IPv4 only (v5), biflow, how much earlier than softflowd's clock the decoded time may be (v9 headers keep whole seconds; the others round ms)]
  const cases: [string, boolean, boolean, number][] = [
    ['v5', true, false, 2],
    ['v9', false, false, 1000],
    ['v9-sampled', false, false, 1000],
    ['ipfix', false, false, 2],
    ['ipfix-milli', false, false, 2],
    ['ipfix-biflow', false, true, 2],
  ];
  for (const [capture, v4Only, biflow, slackMs] of cases) {
    it(capture, () => {
      const expected = loggedFlows(capture).filter((f) => !v4Only || !f.src.includes(':'));
      const { events, errors } = decodeDatagrams(new NetflowDecoder(), readCapture(capture));
      expect(errors).toEqual([]);
      expect(events).toHaveLength(expected.length);
      const byKey = new Map(events.map((e) => [eventKey(e), e]));
      expect(byKey.size).toBe(events.length);
      for (const flow of expected) {
        const e = byKey.get(key(flow));
        expect(e, key(flow)).toBeDefined();
        if (!e) continue;
        expect(e.bytes, key(flow)).toBe(flow.bytes);
        expect(e.packets, key(flow)).toBe(flow.packets);
        if (biflow) {
          expect(e.reverseBytes).toBe(flow.reverseBytes);
          expect(e.reversePackets).toBe(flow.reversePackets);
        }
        for (const [decoded, logged] of [
          [e.start, flow.start],
          [e.end, flow.end],
        ] as [number, number][]) {
          expect(decoded, key(flow)).toBeGreaterThanOrEqual(logged - slackMs);
          expect(decoded, key(flow)).toBeLessThanOrEqual(logged + 1);
        }
        expect(e.time).toBe(e.end);
      }
    });
  }
});
