import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeAll } from '@outflow/core';
import { describe, expect, it } from 'vitest';
import { NetflowDecoder } from '../src/decoder.js';
import { NetflowHexLineDecoder } from '../src/format.js';
import { decodeDatagrams, json, OBSERVED, readCapture, serializeError, TESTDATA } from './helpers.js';

// Golden files are checked-in expected output. After a deliberate change, regenerate with
// `UPDATE_GOLDEN=1 npx vitest run test/golden.test.ts` and review the diff before committing.
const UPDATE = process.env.UPDATE_GOLDEN === '1';
const GOLDEN = join(TESTDATA, 'golden');

function golden(name: string, actual: unknown): void {
  const file = join(GOLDEN, `${name}.json`);
  const value = json(actual);
  if (UPDATE || !existsSync(file)) {
    if (!UPDATE) throw new Error(`golden file ${file} is missing: run with UPDATE_GOLDEN=1 and review it`);
    mkdirSync(GOLDEN, { recursive: true });
    writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
  }
  expect(value).toEqual(JSON.parse(readFileSync(file, 'utf8')));
}

describe('golden: softflowd captures', () => {
  const captures: [string, boolean][] = [
    ['v5', false],
    ['v9', true],
    ['v9-sampled', false],
    ['ipfix', false],
    ['ipfix-milli', false],
    ['ipfix-biflow', false],
  ];
  for (const [name, includeRaw] of captures) {
    it(`${name} decodes to the expected events`, () => {
      const out = decodeDatagrams(new NetflowDecoder({ includeRaw }), readCapture(name));
      expect(out.errors).toEqual([]);
      golden(`softflowd-${name}`, { events: out.events, summaries: out.summaries });
    });
  }

  it('v9 with the data datagram before the template datagram gives the same events once the template arrives', () => {
    const [first, second, third] = readCapture('v9') as [Uint8Array, Uint8Array, Uint8Array];
    const out = decodeDatagrams(new NetflowDecoder(), [second, first, third]);
    expect(out.errors).toEqual([]);
    const held = out.summaries[0]?.buffered ?? 0;
    expect(out.summaries[0]).toMatchObject({ events: 0, errors: 0 });
    expect(held).toBeGreaterThan(1);
    expect(out.summaries[1]).toMatchObject({ replayed: held, buffered: 0 });
    expect(out.events).toHaveLength(46);
    const inOrder = decodeDatagrams(new NetflowDecoder(), [first, second, third]).events;
    const key = (e: { sourceId?: string }) => e.sourceId ?? '';
    // same records and ids; only observedTime differs (each keeps the time its own datagram arrived)
    expect(json(out.events.map((e) => ({ ...e, observedTime: 0 }))).sort((a, b) => key(a).localeCompare(key(b)))).toEqual(
      json(inOrder.map((e) => ({ ...e, observedTime: 0 }))).sort((a, b) => key(a).localeCompare(key(b))),
    );
    golden('softflowd-v9-reordered', { events: out.events, summaries: out.summaries });
  });
});

describe('golden: malformed datagrams', () => {
  const dir = join(TESTDATA, 'malformed');
  const cases = readdirSync(dir)
    .filter((f) => f.endsWith('.bin'))
    .sort();

  it('every malformed datagram is reported with a reason and its raw bytes, and what the framing allows still decodes', () => {
    const all: Record<string, unknown> = {};
    for (const file of cases) {
      const bytes = new Uint8Array(readFileSync(join(dir, file)));
      const out = decodeDatagrams(new NetflowDecoder(), [bytes], { expireAfterMs: 10 * 60_000 });
      expect(out.errors.length, file).toBeGreaterThan(0);
      for (const e of out.errors) {
        expect(e.reason, file).toMatch(/^[a-z_]+$/);
        expect(e.raw.length, file).toBeGreaterThan(0);
      }
      all[file.replace(/\.bin$/, '')] = { summary: out.summaries[0], errors: out.errors, dropped: out.dropped, events: out.events };
    }
    golden('malformed', all);
  });
});

describe('golden: hex lines (tshark -T fields output)', () => {
  it('decodes the v9 and IPFIX datagrams tshark printed', () => {
    const lines = readFileSync(join(TESTDATA, 'softflowd', 'tshark-fields.hexlines'), 'utf8').split('\n');
    const decoder = new NetflowHexLineDecoder();
    const events: unknown[] = [];
    const errors: unknown[] = [];
    lines.forEach((line, i) => {
      const out = decodeAll(decoder, line, { observedTime: OBSERVED, location: 'tshark-fields.hexlines', line: i + 1 });
      events.push(...out.events);
      errors.push(...out.errors.map(serializeError));
    });
    expect(errors).toEqual([]);
    expect(events).toHaveLength(92);
    golden('tshark-fields', { events, errors });
  });
});
