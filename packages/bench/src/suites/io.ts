import { closeSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { FileSource, fileSourceSchema } from '@outflow/io';
import type { Figure, Suite } from '../harness.js';

/** Write `bytes` of VPC-flow-like lines (about 110 bytes each) to `path`; returns the number of lines. */
function writeLines(path: string, bytes: number): number {
  const fd = openSync(path, 'w');
  let written = 0;
  let lines = 0;
  let chunk: string[] = [];
  let chunkBytes = 0;
  while (written + chunkBytes < bytes) {
    const i = lines++;
    const line = `2 123456789012 eni-0a1b2c3d4e5f${(i % 97).toString(16).padStart(2, '0')} 10.0.${(i >> 8) & 255}.${i & 255} 203.0.113.${i % 251} ${40000 + (i % 20000)} 443 6 ${10 + (i % 90)} ${4000 + i * 7} 1700000000 1700000060 ACCEPT OK`;
    chunk.push(line);
    chunkBytes += line.length + 1;
    if (chunk.length === 10_000) {
      writeSync(fd, `${chunk.join('\n')}\n`);
      written += chunkBytes;
      chunk = [];
      chunkBytes = 0;
    }
  }
  if (chunk.length > 0) writeSync(fd, `${chunk.join('\n')}\n`);
  closeSync(fd);
  return lines;
}

async function readWithFileSource(path: string): Promise<number> {
  let n = 0;
  const source = new FileSource(fileSourceSchema.parse({ paths: [path] }), {
    framing: 'lines',
    onRecords: async (batch) => {
      n += batch.records.length;
    },
    onError: () => {},
  });
  await source.start();
  await source.done;
  return n;
}

function countLines(text: string): number {
  let n = 0;
  for (const line of text.split('\n')) if (line.length > 0) n++;
  return n;
}

export const suite: Suite = {
  name: 'io',
  description: 'FileSource line throughput (plain and gzip) against bare readFileSync/gunzipSync + split',
  async run(h) {
    const dir = h.tmpDir();
    const plain = join(dir, 'flows.log');
    const gz = join(dir, 'flows.log.gz');
    const targetBytes = h.quick ? 10 * 1024 * 1024 : 50 * 1024 * 1024;
    const lines = writeLines(plain, targetBytes);
    const size = statSync(plain).size;
    {
      const fd = openSync(gz, 'w');
      writeSync(fd, gzipSync(readFileSync(plain), { level: 6 }));
      closeSync(fd);
    }
    const check = (n: number) => {
      if (n !== lines) throw new Error(`read ${n} lines, wrote ${lines}`);
      return n;
    };
    const plainRuns = await h.compare({
      fileSource: async () => check(await readWithFileSource(plain)),
      bare: () => check(countLines(readFileSync(plain, 'utf8'))),
    });
    const gzipRuns = await h.compare({
      fileSource: async () => check(await readWithFileSource(gz)),
      bare: () => check(countLines(gunzipSync(readFileSync(gz)).toString('utf8'))),
    });
    const mb = size / (1024 * 1024);
    const figures: Figure[] = [];
    for (const [kind, runs, bareName] of [
      ['plain', plainRuns, 'readFileSync + split'],
      ['gzip', gzipRuns, 'gunzipSync + split'],
    ] as const) {
      const fs = runs.fileSource;
      const bare = runs.bare;
      if (!fs || !bare) continue;
      const ratio = fs.perSecond / bare.perSecond;
      const target = kind === 'plain' ? 0.5 : 0.7;
      figures.push(
        {
          id: `io.file_source.${kind}.lines`,
          title: `FileSource 'lines', ${kind} file (${Math.round(mb)} MB, ${lines.toLocaleString('en-US')} lines)`,
          value: fs.perSecond,
          unit: 'lines/s',
          ratio: { value: ratio, to: bareName },
          target: `>= ${target} of ${bareName}`,
          met: ratio >= target,
          notes: `streams 1 MiB chunks with offsets and batches of 1000; the bare read holds the whole file in memory`,
        },
        {
          id: `io.file_source.${kind}.bytes`,
          title: `FileSource 'lines', ${kind} file, uncompressed MB/s`,
          value: (mb / fs.medianMs) * 1000,
          unit: 'MB/s',
          ratio: { value: bare.medianMs / fs.medianMs, to: bareName },
        },
      );
    }
    return figures;
  },
};
