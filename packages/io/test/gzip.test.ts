import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { DecompressedTooLargeError, gunzipIfNeeded, isGzip } from '../src/index.js';

describe('gunzipIfNeeded', () => {
  it('returns non-gzip input unchanged (same buffer), whatever its size', () => {
    const plain = Buffer.from('{"not":"gzip"}');
    expect(gunzipIfNeeded(plain, 4)).toBe(plain);
    expect(isGzip(plain)).toBe(false);
    expect(isGzip(Buffer.from([0x1f]))).toBe(false);
  });

  it('gunzips by magic bytes, including concatenated members', () => {
    const gz = Buffer.concat([gzipSync('hello '), gzipSync('world')]);
    expect(isGzip(gz)).toBe(true);
    expect(gunzipIfNeeded(gz, 100).toString()).toBe('hello world');
    expect(gunzipIfNeeded(gzipSync('exactly10!'), 10).toString()).toBe('exactly10!');
  });

  it('bounds the output: more than maxBytes throws DecompressedTooLargeError', () => {
    const bomb = gzipSync(Buffer.alloc(5_000_000));
    expect(bomb.length).toBeLessThan(10_000);
    expect(() => gunzipIfNeeded(bomb, 1024 * 1024)).toThrow(DecompressedTooLargeError);
    expect(() => gunzipIfNeeded(gzipSync('eleven char'), 10)).toThrow(DecompressedTooLargeError);
  });

  it('corrupt gzip throws the zlib error, not DecompressedTooLargeError', () => {
    const corrupt = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff]);
    let error: unknown;
    try {
      gunzipIfNeeded(corrupt, 100);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(DecompressedTooLargeError);
  });
});
