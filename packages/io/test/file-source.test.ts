import { appendFileSync, mkdirSync, readFileSync, renameSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type FileRecordBatch, FileSource, fileSourceSchema, type TransportError } from '../src/index.js';
import { collect, sleep, tempDir, waitUntil } from './helpers.js';

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir());
});
afterEach(() => cleanup());

const lines = (n: number, prefix = 'line') => Array.from({ length: n }, (_, i) => `${prefix}-${i + 1}`);

describe('FileSource, follow=false', () => {
  it('reads a plain file as lines with 1-based numbers, skipping empty lines, stripping \\r, emitting a last line without \\n', async () => {
    const path = join(dir, 'a.log');
    writeFileSync(path, 'first\r\nsecond\n\nfourth\nlast-without-newline');
    const c = collect({ paths: [path] });
    await c.source.start();
    await c.source.done;
    expect(c.records()).toEqual([
      { path, line: 1, record: 'first' },
      { path, line: 2, record: 'second' },
      { path, line: 4, record: 'fourth' },
      { path, line: 5, record: 'last-without-newline' },
    ]);
    expect(c.batches.every((b) => b.firstLine === 'first')).toBe(true);
    expect(c.batches.at(-1)?.endOffset).toBe(readFileSync(path).length);
    expect(c.errors).toEqual([]);
  });

  it('batches by batchSize and keeps line numbers across batches', async () => {
    const path = join(dir, 'many.log');
    writeFileSync(path, `${lines(2500).join('\n')}\n`);
    const c = collect({ paths: [path], batchSize: 1000 });
    await c.source.start();
    await c.source.done;
    expect(c.batches.map((b) => b.records.length)).toEqual([1000, 1000, 500]);
    expect(c.batches.map((b) => b.firstLineNumber)).toEqual([1, 1001, 2001]);
    expect(c.texts()).toEqual(lines(2500));
    expect(c.batches.every((b) => b.lineNumbers === undefined)).toBe(true);
  });

  it('handles multi-byte UTF-8 split across read chunks, with exact byte offsets', async () => {
    const path = join(dir, 'utf8.log');
    // Long lines of 3-byte characters make every 1 MiB chunk boundary fall inside a character sooner or later.
    const body = Array.from({ length: 40 }, (_, i) => `${i}:${'€'.repeat(40_000 + i)}`);
    writeFileSync(path, `${body.join('\n')}\n`);
    const c = collect({ paths: [path], batchSize: 7 });
    await c.source.start();
    await c.source.done;
    expect(c.texts()).toEqual(body);
    const last = c.batches.at(-1);
    expect(last?.endOffset).toBe(readFileSync(path).length);
    // Each batch ends exactly after its last line's newline.
    let expectedEnd = 0;
    for (const b of c.batches) {
      expectedEnd += b.records.reduce((n, r) => n + Buffer.byteLength(r) + 1, 0);
      expect(b.endOffset).toBe(expectedEnd);
    }
  });

  it('detects gzip by magic bytes, not by extension', async () => {
    const gz = join(dir, 'plain-name.log');
    const plain = join(dir, 'fake.gz');
    writeFileSync(gz, gzipSync(`${lines(3, 'gz').join('\n')}\n`));
    writeFileSync(plain, `${lines(2, 'plain').join('\n')}\n`);
    const c = collect({ paths: [dir] });
    await c.source.start();
    await c.source.done;
    // sorted: fake.gz < plain-name.log
    expect(c.texts()).toEqual(['plain-1', 'plain-2', 'gz-1', 'gz-2', 'gz-3']);
    expect(c.batches.find((b) => b.path === gz)?.firstLine).toBe('gz-1');
  });

  it('reads concatenated gzip members', async () => {
    const path = join(dir, 'multi.gz');
    writeFileSync(path, Buffer.concat([gzipSync('a\nb\n'), gzipSync('c\nd')]));
    const c = collect({ paths: [path] });
    await c.source.start();
    await c.source.done;
    expect(c.records().map((r) => `${r.line}:${r.record}`)).toEqual(['1:a', '2:b', '3:c', '4:d']);
  });

  it('reports a corrupt gzip file and goes on with the next file', async () => {
    const bad = join(dir, 'a-bad.gz');
    const good = join(dir, 'b-good.log');
    const gz = gzipSync(`${lines(100).join('\n')}\n`);
    writeFileSync(bad, Buffer.concat([gz.subarray(0, 20), Buffer.from('garbage garbage garbage')]));
    writeFileSync(good, 'ok\n');
    const c = collect({ paths: [dir] });
    await c.source.start();
    await c.source.done;
    expect(c.errors.map((e) => e.reason)).toEqual(['gzip_failed']);
    expect(c.errors[0]?.location).toBe(bad);
    expect(c.texts()).toContain('ok');
  });

  it('document framing gives each whole (decompressed) file as one record', async () => {
    writeFileSync(join(dir, '1.json'), '{"Records":[1,2]}');
    writeFileSync(join(dir, '2.json.gz'), gzipSync('{"Records":[3]}\n'));
    writeFileSync(join(dir, '3.json'), '\ufeff{"bom":true}');
    const c = collect({ paths: [dir] }, 'document');
    await c.source.start();
    await c.source.done;
    expect(c.batches.map((b) => [b.path.slice(dir.length + 1), b.records, b.firstLineNumber])).toEqual([
      ['1.json', ['{"Records":[1,2]}'], 1],
      ['2.json.gz', ['{"Records":[3]}\n'], 1],
      ['3.json', ['{"bom":true}'], 1],
    ]);
    expect(c.batches.every((b) => b.firstLine === undefined)).toBe(true);
  });

  it('dead-letters oversize documents (plain and gzip bombs) with a prefix of their bytes', async () => {
    writeFileSync(join(dir, 'a-big.json'), `{"x":"${'y'.repeat(5000)}"}`);
    writeFileSync(join(dir, 'b-bomb.json.gz'), gzipSync(Buffer.alloc(10_000_000, 'a')));
    writeFileSync(join(dir, 'c-small.json'), '{}');
    const c = collect({ paths: [dir], maxRecordBytes: 4096 }, 'document');
    await c.source.start();
    await c.source.done;
    expect(c.errors.map((e) => [e.reason, e.location?.slice(dir.length + 1)])).toEqual([
      ['record_too_large', 'a-big.json'],
      ['record_too_large', 'b-bomb.json.gz'],
    ]);
    expect(
      Buffer.from(c.errors[0]?.raw as Uint8Array)
        .toString()
        .startsWith('{"x":"yyy'),
    ).toBe(true);
    expect(c.texts()).toEqual(['{}']);
  });

  it('dead-letters oversize lines with a prefix and keeps reading (and numbering) after them', async () => {
    const path = join(dir, 'long.log');
    const long = 'x'.repeat(3_000_000); // spans several read chunks
    writeFileSync(path, `a\n${'z'.repeat(200)}\nb\n${long}\nc\n${long}`);
    const c = collect({ paths: [path], maxRecordBytes: 100 });
    await c.source.start();
    await c.source.done;
    expect(c.records().map((r) => `${r.line}:${r.record}`)).toEqual(['1:a', '3:b', '5:c']);
    expect(c.errors.map((e) => [e.reason, e.location])).toEqual([
      ['record_too_large', `${path}:2`],
      ['record_too_large', `${path}:4`],
      ['record_too_large', `${path}:6`],
    ]);
    expect((c.errors[1]?.raw as Uint8Array | undefined)?.length).toBeLessThanOrEqual(16 * 1024);
    expect(Buffer.from(c.errors[1]?.raw as Uint8Array).toString()).toMatch(/^x+$/);
    expect(c.batches.find((b) => b.records.includes('b'))?.lineNumbers).toBeDefined();
  });

  it('walks directories recursively with include/exclude globs, in sorted path order', async () => {
    mkdirSync(join(dir, 'b', 'deep'), { recursive: true });
    mkdirSync(join(dir, 'a'));
    writeFileSync(join(dir, 'b', 'deep', 'x.json.gz'), gzipSync('deep\n'));
    writeFileSync(join(dir, 'b', 'one.json.gz'), gzipSync('b-one\n'));
    writeFileSync(join(dir, 'a', 'z.json.gz'), gzipSync('a-z\n'));
    writeFileSync(join(dir, 'a', 'skip.txt'), 'not included\n');
    writeFileSync(join(dir, 'a', 'old.json.gz'), gzipSync('excluded\n'));
    writeFileSync(join(dir, 'top.json.gz'), gzipSync('top\n'));
    const run = async (recursive: boolean) => {
      const c = collect({ paths: [dir], include: ['*.json.gz'], exclude: ['old*'], recursive });
      await c.source.start();
      await c.source.done;
      return c.texts();
    };
    expect(await run(true)).toEqual(['a-z', 'deep', 'b-one', 'top']);
    expect(await run(false)).toEqual(['top']);
    // Same input, same order: a replay is reproducible.
    expect(await run(true)).toEqual(['a-z', 'deep', 'b-one', 'top']);
  });

  it('supports ? in globs and reports a missing path without stopping', async () => {
    writeFileSync(join(dir, 'f1.log'), 'one\n');
    writeFileSync(join(dir, 'f22.log'), 'two\n');
    const c = collect({ paths: [join(dir, 'missing'), dir], include: ['f?.log'] });
    await c.source.start();
    await c.source.done;
    expect(c.texts()).toEqual(['one']);
    expect(c.errors.map((e) => e.reason)).toEqual(['not_found']);
  });

  it('stop() is idempotent and safe before start; done resolves after stop', async () => {
    const c = collect({ paths: [dir] });
    await c.source.stop();
    await c.source.stop();
    await c.source.done;
  });
});

describe('FileSource checkpoints', () => {
  async function stopAfter(config: Parameters<typeof collect>[0], batches: number) {
    const c = collect(config, 'lines', 15);
    await c.source.start();
    await waitUntil(() => c.batches.length >= batches, 10_000, `${batches} batches`);
    await c.source.stop();
    return c;
  }

  for (const gzip of [false, true]) {
    it(`restart after stop mid-file loses nothing and repeats nothing (${gzip ? 'gzip' : 'plain'})`, async () => {
      const path = join(dir, gzip ? 'data.log.gz' : 'data.log');
      const all = lines(5000);
      const text = `${all.join('\n')}\n`;
      writeFileSync(path, gzip ? gzipSync(text) : text);
      const checkpoint = { path: join(dir, 'state', 'cp.json'), intervalMs: 50 };
      const first = await stopAfter({ paths: [path], batchSize: 100, checkpoint }, 3);
      expect(first.batches.length).toBeGreaterThanOrEqual(3);
      expect(first.batches.length).toBeLessThan(50);
      const state = JSON.parse(readFileSync(checkpoint.path, 'utf8'));
      expect(state.files[0].offset).toBe(first.batches.at(-1)?.endOffset);
      expect(state.files[0].gzip).toBe(gzip);

      const second = collect({ paths: [path], batchSize: 100, checkpoint });
      await second.source.start();
      await second.source.done;
      const union = [...first.texts(), ...second.texts()];
      expect(union).toEqual(all);
      // Resumed batches carry the right line numbers and the file's first line.
      expect(second.records()[0]?.line).toBe(first.texts().length + 1);
      expect(second.batches[0]?.firstLine).toBe('line-1');

      const third = collect({ paths: [path], batchSize: 100, checkpoint });
      await third.source.start();
      await third.source.done;
      expect(third.texts()).toEqual([]);
    });
  }

  it('commits an offset only after onRecords resolved: a hung batch is never in the checkpoint', async () => {
    const path = join(dir, 'data.log');
    writeFileSync(path, `${lines(1000).join('\n')}\n`);
    const cp = join(dir, 'cp.json');
    const accepted: FileRecordBatch[] = [];
    let calls = 0;
    const source = new FileSource(fileSourceSchema.parse({ paths: [path], batchSize: 100, checkpoint: { path: cp, intervalMs: 10 } }), {
      framing: 'lines',
      stopTimeoutMs: 50,
      onRecords: (batch) => {
        calls++;
        if (calls === 3) return new Promise<void>(() => {}); // the pipeline never takes batch 3
        accepted.push(batch);
        return Promise.resolve();
      },
      onError: () => {},
    });
    await source.start();
    await waitUntil(() => calls === 3);
    await sleep(60); // several checkpoint intervals
    const offsetOf = () => JSON.parse(readFileSync(cp, 'utf8')).files[0].offset;
    expect(offsetOf()).toBe(accepted[1]?.endOffset);
    await source.stop(); // gives up waiting for the hung batch after stopTimeoutMs
    await source.done;
    expect(offsetOf()).toBe(accepted[1]?.endOffset);
    expect(calls).toBe(3);
  });

  it('a rejected batch stops the source with emit_failed; a restart reads from that batch on', async () => {
    const path = join(dir, 'data.log');
    writeFileSync(path, `${lines(300).join('\n')}\n`);
    const cp = join(dir, 'cp.json');
    const errors: TransportError[] = [];
    const got: string[] = [];
    let calls = 0;
    const source = new FileSource(fileSourceSchema.parse({ paths: [path], batchSize: 100, checkpoint: { path: cp } }), {
      framing: 'lines',
      onRecords: async (batch) => {
        if (++calls === 2) throw new Error('pipeline closed');
        got.push(...batch.records);
      },
      onError: (e) => errors.push(e),
    });
    await source.start();
    await source.done;
    expect(errors.map((e) => e.reason)).toEqual(['emit_failed']);
    expect(got).toEqual(lines(100));
    const again = collect({ paths: [path], batchSize: 100, checkpoint: { path: cp } });
    await again.source.start();
    await again.source.done;
    expect(again.texts()).toEqual(lines(300).slice(100));
  });

  it('document files are read once across restarts', async () => {
    writeFileSync(join(dir, 'a.json'), '{"a":1}');
    const checkpoint = { path: join(dir, 'cp', 'state.json') };
    const run = async () => {
      const c = collect({ paths: [dir], include: ['*.json'], checkpoint }, 'document');
      await c.source.start();
      await c.source.done;
      return c.texts();
    };
    expect(await run()).toEqual(['{"a":1}']);
    writeFileSync(join(dir, 'b.json'), '{"b":2}');
    expect(await run()).toEqual(['{"b":2}']);
  });

  it('a truncated file is read again from the start after a restart', async () => {
    const path = join(dir, 't.log');
    writeFileSync(path, `${lines(50).join('\n')}\n`);
    const checkpoint = { path: join(dir, 'cp.json') };
    const first = collect({ paths: [path], checkpoint });
    await first.source.start();
    await first.source.done;
    expect(first.texts()).toHaveLength(50);
    writeFileSync(path, 'new-1\nnew-2\n'); // same inode, shorter
    const second = collect({ paths: [path], checkpoint });
    await second.source.start();
    await second.source.done;
    expect(second.records().map((r) => `${r.line}:${r.record}`)).toEqual(['1:new-1', '2:new-2']);
  });

  it('a corrupt checkpoint file is ignored (everything is read) and replaced', async () => {
    const path = join(dir, 'x.log');
    writeFileSync(path, 'one\ntwo\n');
    const cp = join(dir, 'cp.json');
    writeFileSync(cp, '{not json');
    const c = collect({ paths: [path], checkpoint: { path: cp } });
    await c.source.start();
    await c.source.done;
    expect(c.texts()).toEqual(['one', 'two']);
    expect(JSON.parse(readFileSync(cp, 'utf8')).version).toBe(1);
  });

  it('the checkpoint file inside a watched directory is not read as input', async () => {
    writeFileSync(join(dir, 'x.log'), 'one\n');
    const cp = join(dir, 'cp.json');
    const run = async () => {
      const c = collect({ paths: [dir], checkpoint: { path: cp } });
      await c.source.start();
      await c.source.done;
      return c.texts();
    };
    expect(await run()).toEqual(['one']);
    expect(await run()).toEqual([]);
  });

  it('schema fills defaults and rejects bad values with paths', () => {
    const parsed = fileSourceSchema.parse({ paths: ['/x'], checkpoint: { path: '/cp' } });
    expect(parsed).toMatchObject({
      follow: false,
      include: ['*'],
      exclude: [],
      recursive: true,
      startAt: 'beginning',
      pollIntervalMs: 1000,
      maxRecordBytes: 1024 * 1024,
      batchSize: 1000,
      checkpoint: { path: '/cp', intervalMs: 5000 },
    });
    const bad = fileSourceSchema.safeParse({ paths: [], batchSize: 0, startAt: 'middle', extra: 1 });
    expect(bad.success).toBe(false);
    const paths = bad.error?.issues.map((i) => i.path.join('.') || '(root)').sort();
    expect(paths).toEqual(['(root)', 'batchSize', 'paths', 'startAt']);
  });
});

describe('FileSource, follow=true', () => {
  const follow = (paths: string[], extra: Record<string, unknown> = {}) => collect({ paths, follow: true, pollIntervalMs: 20, ...extra });

  it('tails appends and holds a partial last line until it is completed', async () => {
    const path = join(dir, 'app.log');
    writeFileSync(path, 'one\ntw');
    const c = follow([path]);
    await c.source.start();
    try {
      await waitUntil(() => c.texts().length === 1);
      await sleep(100);
      expect(c.texts()).toEqual(['one']);
      appendFileSync(path, 'o\nthree\n');
      await waitUntil(() => c.texts().length === 3);
      expect(c.records().map((r) => `${r.line}:${r.record}`)).toEqual(['1:one', '2:two', '3:three']);
    } finally {
      await c.source.stop();
    }
  });

  it('discovers new files in a watched directory and reads them from the start', async () => {
    writeFileSync(join(dir, 'a.log'), 'a1\n');
    const c = follow([dir], { startAt: 'end' });
    await c.source.start();
    try {
      await sleep(100);
      expect(c.texts()).toEqual([]); // startAt end: existing content is skipped
      appendFileSync(join(dir, 'a.log'), 'a2\n');
      writeFileSync(join(dir, 'b.log'), 'b1\nb2\n');
      await waitUntil(() => c.texts().length === 3);
      expect(c.records().map((r) => `${r.path.slice(dir.length + 1)}:${r.line}:${r.record}`)).toEqual(['a.log:2:a2', 'b.log:1:b1', 'b.log:2:b2']);
    } finally {
      await c.source.stop();
    }
  });

  it('after rotation (rename + new file) reads the rest of the old file, then the new one from 0, no duplicates', async () => {
    const path = join(dir, 'app.log');
    writeFileSync(path, 'old-1\nold-2\n');
    const c = follow([path]);
    await c.source.start();
    try {
      await waitUntil(() => c.texts().length === 2);
      appendFileSync(path, 'old-3\n');
      renameSync(path, join(dir, 'app.log.1'));
      writeFileSync(path, 'new-1\n');
      await waitUntil(() => c.texts().includes('new-1'));
      appendFileSync(path, 'new-2\n');
      await waitUntil(() => c.texts().length === 5);
      await sleep(100);
      expect(c.texts()).toEqual(['old-1', 'old-2', 'old-3', 'new-1', 'new-2']);
    } finally {
      await c.source.stop();
    }
  });

  it('a rotated file renamed inside the watched directory is not read twice', async () => {
    const path = join(dir, 'app.log');
    writeFileSync(path, 'old-1\n');
    const c = follow([dir]);
    await c.source.start();
    try {
      await waitUntil(() => c.texts().length === 1);
      renameSync(path, join(dir, 'app.log.1'));
      writeFileSync(path, 'new-1\n');
      await waitUntil(() => c.texts().includes('new-1'));
      await sleep(100);
      expect(c.texts()).toEqual(['old-1', 'new-1']);
    } finally {
      await c.source.stop();
    }
  });

  it('after truncation reads the file again from 0', async () => {
    const path = join(dir, 'app.log');
    writeFileSync(path, 'aaaa-1\naaaa-2\naaaa-3\n');
    const c = follow([path]);
    await c.source.start();
    try {
      await waitUntil(() => c.texts().length === 3);
      truncateSync(path, 0);
      await sleep(80);
      appendFileSync(path, 'b-1\n');
      await waitUntil(() => c.texts().length === 4);
      expect(c.records().at(-1)).toEqual({ path, line: 1, record: 'b-1' });
    } finally {
      await c.source.stop();
    }
  });

  it('resumes a followed file from the checkpoint after a restart, including the held partial line', async () => {
    const path = join(dir, 'app.log');
    const checkpoint = { path: join(dir, 'cp', 'state.json'), intervalMs: 20 };
    writeFileSync(path, 'one\ntwo\nthr');
    const first = follow([path], { checkpoint });
    await first.source.start();
    await waitUntil(() => first.texts().length === 2);
    await first.source.stop();
    appendFileSync(path, 'ee\nfour\n');
    const second = follow([path], { checkpoint, startAt: 'end' });
    await second.source.start();
    try {
      await waitUntil(() => second.texts().length === 2);
      expect(second.records().map((r) => `${r.line}:${r.record}`)).toEqual(['3:three', '4:four']);
      expect(second.batches[0]?.firstLine).toBe('one');
    } finally {
      await second.source.stop();
    }
  });

  it('a gzip file still being written is read as it grows, each line once', async () => {
    const path = join(dir, 'stream.log.gz');
    const all = lines(20_000);
    const gz = gzipSync(`${all.join('\n')}\n`);
    const cut = Math.floor(gz.length / 2);
    writeFileSync(path, gz.subarray(0, cut));
    const c = follow([path]);
    await c.source.start();
    try {
      await waitUntil(() => c.texts().length > 0);
      await sleep(100);
      const firstHalf = c.texts().length;
      expect(firstHalf).toBeLessThan(all.length);
      expect(c.errors).toEqual([]);
      appendFileSync(path, gz.subarray(cut));
      await waitUntil(() => c.texts().length === all.length);
      await sleep(100);
      expect(c.texts()).toEqual(all);
    } finally {
      await c.source.stop();
    }
  });

  it('with more files than maxOpenFiles, idle files are closed and reopened; nothing is lost', async () => {
    const names = ['a.log', 'b.log', 'c.log'];
    for (const n of names) writeFileSync(join(dir, n), `${n}-1\n`);
    const c = collect({ paths: [dir], follow: true, pollIntervalMs: 20 });
    const limited = new FileSource(c.source.config, { ...c.source.options, maxOpenFiles: 1 });
    await limited.start();
    try {
      await waitUntil(() => c.texts().length === 3);
      await sleep(60);
      for (const n of names) appendFileSync(join(dir, n), `${n}-2\n`);
      await waitUntil(() => c.texts().length === 6);
      await sleep(60);
      expect(c.texts().sort()).toEqual(['a.log-1', 'a.log-2', 'b.log-1', 'b.log-2', 'c.log-1', 'c.log-2']);
    } finally {
      await limited.stop();
    }
  });

  it('stop() during start() leaves nothing running', async () => {
    writeFileSync(join(dir, 'a.log'), 'one\n');
    const c = follow([dir], { checkpoint: { path: join(dir, 'cp.json') } });
    const starting = c.source.start();
    await c.source.stop();
    await starting;
    await c.source.done;
    appendFileSync(join(dir, 'a.log'), 'two\n');
    await sleep(80);
    expect(c.texts()).toEqual([]);
  });

  it('reads a document only once it stopped changing, and only once', async () => {
    const c = collect({ paths: [dir], follow: true, pollIntervalMs: 20 }, 'document');
    await c.source.start();
    try {
      writeFileSync(join(dir, 'doc.json'), '{"Records":[');
      await sleep(5);
      appendFileSync(join(dir, 'doc.json'), '1]}');
      await waitUntil(() => c.texts().length === 1);
      await sleep(100);
      expect(c.texts()).toEqual(['{"Records":[1]}']);
    } finally {
      await c.source.stop();
    }
  });
});
