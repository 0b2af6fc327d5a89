import { gunzipSync } from 'node:zlib';

/** True when `buf` starts with the gzip magic bytes 1f 8b. */
export function isGzip(buf: Uint8Array): boolean {
  return buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b;
}

/** Thrown by gunzipIfNeeded when the decompressed size would pass `maxBytes`. */
export class DecompressedTooLargeError extends Error {
  override readonly name = 'DecompressedTooLargeError';
  constructor(readonly maxBytes: number) {
    super(`decompressed size exceeds ${maxBytes} bytes`);
  }
}

/**
 * Gunzip `buf` when it starts with the gzip magic bytes (1f 8b), else return it
 * unchanged. Output is bounded: more than `maxBytes` decompressed bytes throws
 * DecompressedTooLargeError (a decompression bomb never gets allocated);
 * corrupt data throws zlib's error. Concatenated gzip members are all read.
 */
export function gunzipIfNeeded(buf: Buffer, maxBytes: number): Buffer {
  if (!isGzip(buf)) return buf;
  try {
    return gunzipSync(buf, { maxOutputLength: Math.max(1, maxBytes) });
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) throw new DecompressedTooLargeError(maxBytes);
    throw err;
  }
}
