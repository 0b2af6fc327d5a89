/** Byte-level helpers: unsigned integers of any field length, IP addresses, NTP timestamps. */
import { parseIPv6Words } from '@outflow/core';

const TWO_32 = 4294967296;

/**
 * Unsigned big-endian integer of `length` bytes at `offset` (network order, the
 * IPFIX reduced-size encoding). Lengths over 7 bytes lose precision past 2^53.
 */
export function readUint(bytes: Uint8Array, view: DataView, offset: number, length: number): number {
  switch (length) {
    case 1:
      return bytes[offset] as number;
    case 2:
      return view.getUint16(offset);
    case 4:
      return view.getUint32(offset);
    case 8:
      return view.getUint32(offset) * TWO_32 + view.getUint32(offset + 4);
    default: {
      let v = 0;
      for (let i = 0; i < length; i++) v = v * 256 + (bytes[offset + i] as number);
      return v;
    }
  }
}

/** Dotted-quad text of an IPv4 address held as an unsigned 32-bit number. */
export function ipv4Text(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** Bytes of IPv6 text (with `::` and an optional trailing dotted quad, parsed by core's `parseIPv6Words`), or undefined. */
export function ipv6Bytes(text: string): Uint8Array | undefined {
  const words = [0, 0, 0, 0];
  if (!parseIPv6Words(text, words)) return undefined;
  const bytes = new Uint8Array(16);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < 4; i++) view.setUint32(4 * i, words[i] as number);
  return bytes;
}

/** The IPv6 address in `bytes[offset..offset+16)` as four 32-bit words, most significant first, into `out` (as core's `parseIPv6Words` gives it). */
export function ipv6Words(bytes: Uint8Array, offset: number, out: number[]): number[] {
  for (let i = 0; i < 4; i++) {
    const at = offset + 4 * i;
    out[i] = (((bytes[at] as number) << 24) | ((bytes[at + 1] as number) << 16) | ((bytes[at + 2] as number) << 8) | (bytes[at + 3] as number)) >>> 0;
  }
  return out;
}

/** Text of the IPv6 address in `bytes[offset..offset+16)`, in the RFC 5952 canonical form. */
export function ipv6Text(bytes: Uint8Array, offset: number): string {
  const groups: number[] = new Array(8);
  for (let i = 0; i < 8; i++) groups[i] = ((bytes[offset + 2 * i] as number) << 8) | (bytes[offset + 2 * i + 1] as number);
  // IPv4-mapped addresses keep the dotted quad (RFC 5952 §5)
  if (groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff) {
    return `::ffff:${bytes[offset + 12]}.${bytes[offset + 13]}.${bytes[offset + 14]}.${bytes[offset + 15]}`;
  }
  // longest run of two or more zero groups, the first one on a tie
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      out += i === 0 ? '::' : ':';
      i += bestLen - 1;
      continue;
    }
    out += (groups[i] as number).toString(16);
    if (i < 7) out += ':';
  }
  return out;
}

/** Seconds between the NTP era (1900-01-01) and the Unix epoch. */
export const NTP_UNIX_OFFSET_SECONDS = 2208988800;

/** Epoch ms of a 64-bit NTP timestamp (dateTimeMicroseconds / dateTimeNanoseconds, RFC 7011 §6.1.9-10). */
export function ntpToMs(view: DataView, offset: number): number {
  const seconds = view.getUint32(offset);
  const fraction = view.getUint32(offset + 4);
  return (seconds - NTP_UNIX_OFFSET_SECONDS) * 1000 + Math.floor((fraction * 1000) / TWO_32);
}

/** Hex text of a byte range, for `raw` output of fields without a better rendering. */
export function hexText(bytes: Uint8Array, offset: number, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += (bytes[offset + i] as number).toString(16).padStart(2, '0');
  return out;
}
