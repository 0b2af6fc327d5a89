import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type FileRecordBatch, FileSource, type FileSourceConfigInput, fileSourceSchema, type TransportError } from '../src/index.js';

export function tempDir(): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'outflow-io-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export async function waitUntil(check: () => boolean, timeoutMs = 5_000, what = 'condition'): Promise<void> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Collected {
  source: FileSource;
  batches: FileRecordBatch[];
  errors: TransportError[];
  /** Every record with its path and line, in delivery order. */
  records(): { path: string; line: number; record: string }[];
  texts(): string[];
}

/** A FileSource whose batches and errors are collected; `delayMs` makes onRecords slow. */
export function collect(config: FileSourceConfigInput, framing: 'lines' | 'document' = 'lines', delayMs = 0): Collected {
  const batches: FileRecordBatch[] = [];
  const errors: TransportError[] = [];
  const source = new FileSource(fileSourceSchema.parse(config), {
    framing,
    onRecords: async (batch) => {
      if (delayMs > 0) await sleep(delayMs);
      batches.push(batch);
    },
    onError: (e) => errors.push(e),
  });
  const records = () =>
    batches.flatMap((b) =>
      b.records.map((record, i) => ({ path: b.path, line: b.lineNumbers ? (b.lineNumbers[i] as number) : b.firstLineNumber + i, record })),
    );
  return { source, batches, errors, records, texts: () => records().map((r) => r.record) };
}
