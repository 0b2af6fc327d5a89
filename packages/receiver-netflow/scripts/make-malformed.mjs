#!/usr/bin/env node
// Write the malformed datagrams of testdata/malformed/ (see testdata/NOTICE): byte-level edits of the
// softflowd captures in testdata/softflowd/, and a few hand-built datagrams. Deterministic; re-run after
// re-recording the captures, then review `UPDATE_GOLDEN=1 npx vitest run test/golden.test.ts`.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', 'testdata');
const read = (p) => new Uint8Array(readFileSync(join(root, 'softflowd', p)));
const out = join(root, 'malformed');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const write = (name, bytes) => writeFileSync(join(out, `${name}.bin`), bytes);

const u16 = (v) => [(v >> 8) & 255, v & 255];
const u32 = (v) => [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
const set16 = (b, at, v) => {
  b[at] = (v >> 8) & 255;
  b[at + 1] = v & 255;
};
const get16 = (b, at) => (b[at] << 8) | b[at + 1];
/** Offsets, ids and lengths of the sets of a v9 (header 20) or IPFIX (header 16) datagram. */
const sets = (b, header) => {
  const found = [];
  for (let pos = header; pos + 4 <= b.length; ) {
    const length = get16(b, pos + 2);
    found.push({ offset: pos, id: get16(b, pos), length });
    if (length < 4) break;
    pos += length;
  }
  return found;
};
const v9Header = (count, seq) => [...u16(9), ...u16(count), ...u32(3_600_000), ...u32(1_704_067_200), ...u32(seq), ...u32(0)];
const ipfixMessage = (setsBytes, seq = 0) => {
  const body = setsBytes.flat();
  return new Uint8Array([...u16(10), ...u16(16 + body.length), ...u32(1_704_067_200), ...u32(seq), ...u32(0), ...body]);
};
const set = (id, body) => [...u16(id), ...u16(body.length + 4), ...body];

const v5 = read('v5/000.bin');
const v5last = read('v5/001.bin');
const v9 = read('v9/000.bin');
const v9data = read('v9/001.bin');
const ipfix = read('ipfix/000.bin');
const ipfixLast = read('ipfix/002.bin');

write('short-1-byte', new Uint8Array([0]));
{
  const b = v9.slice();
  set16(b, 0, 7);
  write('version-7', b);
}
write('v5-truncated', v5.slice(0, 24 + 48 * 3 + 10));
{
  const b = v5.slice(0, 24);
  set16(b, 2, 0);
  write('v5-count-zero', b);
}
write('v5-trailing-bytes', new Uint8Array([...v5last, 1, 2, 3, 4, 5]));
write('v9-short-header', v9.slice(0, 12));
{
  const b = v9.slice();
  set16(b, sets(b, 20)[1].offset + 2, 2);
  write('v9-bad-set-length', b);
}
{
  const b = v9.slice();
  const all = sets(b, 20);
  set16(b, all[all.length - 1].offset + 2, 0xfff0);
  write('v9-set-past-end', b);
}
{
  // the options template flowset (id 1) gets reserved id 7: its template is lost, so the options data waits and times out
  const b = v9.slice();
  const options = sets(b, 20).find((s) => s.id === 1);
  set16(b, options.offset, 7);
  write('v9-reserved-set-id', b);
}
write(
  'v9-empty-template',
  new Uint8Array([
    ...v9Header(3, 1),
    // template flowset: template 300 with zero fields, then template 301 (src, dst addresses)
    ...set(0, [...u16(300), ...u16(0), ...u16(301), ...u16(2), ...u16(8), ...u16(4), ...u16(12), ...u16(4)]),
    // one record for 301: 10.0.0.1 -> 192.0.2.1
    ...set(301, [10, 0, 0, 1, 192, 0, 2, 1]),
  ]),
);
write('v9-bad-template-id', new Uint8Array([...v9Header(1, 1), ...set(0, [...u16(12), ...u16(1), ...u16(8), ...u16(4)])]));
write('v9-data-without-template', v9data);
{
  const b = ipfix.slice();
  set16(b, 2, 0xffff);
  write('ipfix-length-past-end', b);
}
{
  const b = ipfix.slice();
  set16(b, 2, 8);
  write('ipfix-length-short', b);
}
write('ipfix-trailing-bytes', new Uint8Array([...ipfixLast, 0xff, 0xff, 0xff]));
{
  // options template with scope count 0: rejected, so the options data set after it waits and times out
  const b = ipfix.slice();
  const options = sets(b, 16).find((s) => s.id === 3);
  set16(b, options.offset + 8, 0);
  write('ipfix-bad-scope-count', b);
}
write('ipfix-template-past-end', ipfixMessage([set(2, [...u16(400), ...u16(10), ...u16(8), ...u16(4), ...u16(12), ...u16(4)])]));
write('ipfix-zero-length-field', ipfixMessage([set(2, [...u16(401), ...u16(2), ...u16(8), ...u16(0), ...u16(12), ...u16(4)])]));
write(
  'ipfix-record-past-end',
  ipfixMessage([
    // template 402: interfaceName (variable length), sourceIPv4Address, destinationIPv4Address
    set(2, [...u16(402), ...u16(3), ...u16(82), ...u16(65535), ...u16(8), ...u16(4), ...u16(12), ...u16(4)]),
    // first record fine ("eth0"), second claims a 200-byte name
    set(402, [4, ...Buffer.from('eth0'), 10, 0, 0, 2, 198, 51, 100, 7, 200, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]),
  ]),
);
console.log('wrote testdata/malformed/*.bin');
