import { describe, expect, it } from 'vitest';
import {
  atLine,
  decodeJsonInputGuarded,
  decodeJsonLines,
  detailLocation,
  firstNonBlank,
  type JsonInputHandler,
  type JsonLineHandler,
  lineDetail,
  recordError,
} from '../src/codec/index.js';
import type { DecodeError, DecodeMeta, DecodeSink } from '../src/index.js';

function collect(): { sink: DecodeSink<never>; errors: DecodeError[] } {
  const errors: DecodeError[] = [];
  return { errors, sink: { event: () => {}, error: (e) => errors.push(e) } };
}

describe('codec: line-oriented JSON inputs', () => {
  it('firstNonBlank skips white space and a BOM', () => {
    expect(firstNonBlank('  \t\r\n\ufeff{')).toBe(0x7b);
    expect(firstNonBlank(' \n ')).toBe(-1);
    expect(firstNonBlank('')).toBe(-1);
  });

  it('lineDetail and detailLocation place a record in its file or body', () => {
    const file: DecodeMeta = { observedTime: 0, location: '/var/log/x.json', line: 5 };
    const body: DecodeMeta = { observedTime: 0, location: 'http://127.0.0.1' };
    expect(lineDetail(file, undefined)).toBe('5');
    expect(lineDetail(file, 3)).toBe('7');
    expect(lineDetail(body, 3)).toBe('line 3');
    expect(lineDetail(body, undefined)).toBeUndefined();
    expect(detailLocation(file, '7')).toBe('/var/log/x.json:7');
    expect(detailLocation(body, 'line 3')).toBe('http://127.0.0.1#line 3');
    expect(detailLocation(body, '[2]')).toBe('http://127.0.0.1#[2]');
    expect(detailLocation(body, undefined)).toBe('http://127.0.0.1');
    expect(detailLocation({ observedTime: 0 }, '7')).toBeUndefined();
  });

  it('decodeJsonLines: one line, a pretty-printed document of an allowed start, or JSON lines with bad lines reported', () => {
    const seen: [unknown, string, string | undefined][] = [];
    const handler: JsonLineHandler<never> = { lineValue: (value, text, _sink, _meta, detail) => seen.push([value, text, detail]) };
    const { sink, errors } = collect();
    const body: DecodeMeta = { observedTime: 0, location: 'http://peer' };
    decodeJsonLines('{"a":1}', sink, body, '{', handler);
    decodeJsonLines('{\n  "b": 2\n}\n', sink, body, '{', handler);
    decodeJsonLines('[1,\n2]', sink, body, '{', handler);
    decodeJsonLines('{"c":3}\r\n\r\n   \n{"d":4}\n', sink, { observedTime: 0, line: 10 }, '{', handler);
    expect(seen).toEqual([
      [{ a: 1 }, '{"a":1}', undefined],
      [{ b: 2 }, '{\n  "b": 2\n}\n', undefined],
      [{ c: 3 }, '{"c":3}', '10'],
      [{ d: 4 }, '{"d":4}', '13'],
    ]);
    // `[` was not an allowed document start: the array's lines were decoded one by one.
    expect(errors.map((e) => [e.reason, e.raw, e.location])).toEqual([
      ['invalid_json', '[1,', 'line 1'],
      ['invalid_json', '2]', 'line 2'],
    ]);
    expect(errors[0]?.message).toMatch(/^not JSON: /);
    seen.length = 0;
    decodeJsonLines('[1,\n2]', sink, body, '{[', handler);
    expect(seen).toEqual([[[1, 2], '[1,\n2]', undefined]]);
    decodeJsonLines('   ', sink, body, '{[', handler);
    expect(seen).toHaveLength(1);
  });
});

describe('codec: JSON records', () => {
  it('atLine tags lines the decoder split itself; recordError reports raw text and a relative location', () => {
    const meta: DecodeMeta = { observedTime: 0, location: 'f.json', line: 2 };
    expect(atLine(meta, 2)).toEqual({ loc: 'f.json:2', tag: '' });
    expect(atLine(meta, 4)).toEqual({ loc: 'f.json:4', tag: 'line 4 ' });
    expect(atLine({ observedTime: 0 }, undefined)).toEqual({ loc: undefined, tag: '' });
    const { sink, errors } = collect();
    recordError(sink, 'missing_field', 'no verb', { a: 1 }, undefined, atLine(meta, 4), '/items/1');
    recordError(sink, 'invalid_json', 'bad', 'x', '{x', atLine(meta, 2), '');
    expect(errors).toEqual([
      { reason: 'missing_field', message: 'no verb', raw: '{"a":1}', location: 'line 4 /items/1' },
      { reason: 'invalid_json', message: 'bad', raw: '{x', location: undefined },
    ]);
  });

  it('decodeJsonInputGuarded turns a handler exception into one decoder_exception error', () => {
    const { sink, errors } = collect();
    const values: unknown[] = [];
    const handler: JsonInputHandler = {
      value: (value) => {
        if (value === 'boom') throw new Error('handler bug');
        values.push(value);
      },
    };
    decodeJsonInputGuarded('{"a":1}\n{"b":2}', sink, { observedTime: 0, location: 'in' }, handler);
    decodeJsonInputGuarded('"boom"', sink, { observedTime: 0, location: 'in' }, handler);
    expect(values).toEqual([{ a: 1 }, { b: 2 }]);
    expect(errors).toEqual([{ reason: 'decoder_exception', message: 'handler bug', raw: '"boom"', location: 'in' }]);
  });
});
