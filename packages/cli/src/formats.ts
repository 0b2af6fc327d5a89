import { closeSync, createReadStream, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createGunzip, gunzipSync } from 'node:zlib';
import { type FormatDefinition, outflowJsonFormat } from '@outflow/core';
import { formats as cloudTrailFormats } from '@outflow/receiver-aws-cloudtrail';
import { formats as falcoFormats } from '@outflow/receiver-falco';
import { formats as flowLogFormats } from '@outflow/receiver-flow-logs';
import { formats as auditFormats } from '@outflow/receiver-k8s-audit';
import { otlpFormats } from '@outflow/receiver-otlp';
import { formats as tetragonFormats } from '@outflow/receiver-tetragon';
import { UsageError } from './cli-io.js';

/** The formats a log record's body can carry inside OTLP (an OpenTelemetry Collector shipping these logs). */
export const INNER_FORMATS: readonly FormatDefinition[] = [...auditFormats, ...cloudTrailFormats, ...flowLogFormats, ...falcoFormats, ...tetragonFormats];

/** Every file format the CLI can read, by name. */
export const FORMATS: readonly FormatDefinition[] = [...INNER_FORMATS, ...otlpFormats({ formats: [...INNER_FORMATS] }), outflowJsonFormat];

export function formatByName(name: string): FormatDefinition {
  const format = FORMATS.find((f) => f.name === name);
  if (!format) throw new UsageError(`unknown format "${name}" (known: ${FORMATS.map((f) => f.name).join(', ')})`);
  return format;
}

const HEAD_BYTES = 64 * 1024;

function isGzip(buf: Buffer): boolean {
  return buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b;
}

/** The first 64 KiB of a file, decompressed when it is gzip. */
export function readHead(path: string): string {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(HEAD_BYTES * 4);
    const n = readSync(fd, buf, 0, buf.length, 0);
    const head = buf.subarray(0, n);
    if (!isGzip(head)) return head.subarray(0, HEAD_BYTES).toString('utf8');
    try {
      return gunzipSync(head, { finishFlush: 2 /* Z_SYNC_FLUSH: accept a truncated stream */ }).subarray(0, HEAD_BYTES).toString('utf8');
    } catch {
      return '';
    }
  } finally {
    closeSync(fd);
  }
}

/** The most likely format of a file, or undefined when nothing recognises it. */
export function detectFormat(path: string): FormatDefinition | undefined {
  const head = readHead(path);
  let best: FormatDefinition | undefined;
  let bestScore = 0.3;
  for (const format of FORMATS) {
    const score = format.sniff?.(head) ?? 0;
    if (score > bestScore) {
      best = format;
      bestScore = score;
    }
  }
  return best;
}

/** Files under the given paths (directories walked recursively), sorted, skipping hidden files. */
export function listFiles(paths: readonly string[]): { files: string[]; missing: string[] } {
  const files: string[] = [];
  const missing: string[] = [];
  const walk = (p: string) => {
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(p);
    } catch {
      missing.push(p);
      return;
    }
    if (st.isDirectory()) {
      for (const name of readdirSync(p).sort()) if (!name.startsWith('.')) walk(join(p, name));
    } else if (st.isFile()) {
      files.push(p);
    }
  };
  for (const p of paths) walk(p);
  return { files, missing };
}

/** Stream a file's records in its format's framing: each line, or the whole (decompressed) document. */
export async function* readRecords(
  path: string,
  framing: 'lines' | 'document',
): AsyncGenerator<{ record: string; line: number; firstLine: string | undefined }> {
  const head = Buffer.alloc(2);
  const fd = openSync(path, 'r');
  readSync(fd, head, 0, 2, 0);
  closeSync(fd);
  const raw = createReadStream(path);
  const stream = isGzip(head) ? raw.pipe(createGunzip()) : raw;
  if (framing === 'document') {
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    yield { record: Buffer.concat(chunks).toString('utf8'), line: 1, firstLine: undefined };
    return;
  }
  const rl = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
  let line = 0;
  let firstLine: string | undefined;
  for await (const text of rl) {
    line++;
    if (line === 1) firstLine = text;
    if (text.length === 0) continue;
    yield { record: text, line, firstLine };
  }
}
