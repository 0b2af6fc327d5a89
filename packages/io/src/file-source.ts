import { createHash } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import { type FileHandle, open, readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream';
import { promisify } from 'node:util';
import { createGunzip, gunzip } from 'node:zlib';
import { type ComponentMetrics, errorMessage, KeyedState, type Logger, silentLogger } from '@outflow/core';
import { type CheckpointEntry, identityKey, readCheckpoint, writeCheckpoint } from './checkpoint.js';
import type { FileSourceConfig } from './config.js';
import { basenameMatcher } from './glob.js';
import { isGzip } from './gzip.js';
import type { TransportError } from './types.js';

const gunzipAsync = promisify(gunzip);

/** Records read from one file, handed to `onRecords`. */
export interface FileRecordBatch {
  path: string;
  records: string[];
  /** 1-based line of records[0] ('lines' framing); 1 for 'document'. */
  firstLineNumber: number;
  /**
   * Line number of each record, present only when the records are not on
   * consecutive lines (empty or oversize lines were skipped in between).
   * Without it, record i is on line `firstLineNumber + i`.
   */
  lineNumbers?: number[];
  /** The file's first line ('lines' framing), also when resuming mid-file. */
  firstLine?: string;
  /** Offset just after this batch: bytes on disk for plain files, bytes of decompressed data for gzip files. */
  endOffset: number;
}

export interface FileSourceOptions {
  framing: 'lines' | 'document';
  /** Called per batch; reading waits until it resolves (backpressure). The batch's offset is committed only after it resolves. */
  onRecords(batch: FileRecordBatch): Promise<void>;
  /** Bad input and unreadable files: `record_too_large`, `read_failed`, `gzip_failed`, `not_found`. Never throws. */
  onError(error: TransportError): void;
  logger?: Logger;
  metrics?: ComponentMetrics;
  /** Most file entries kept in the checkpoint (least recently seen evicted first). Default 100 000. */
  maxTrackedFiles?: number;
  /** A checkpoint entry for a file not seen for this long is forgotten. Default 7 days. */
  trackedFileTtlMs?: number;
  /** Most files held open while following (the least recently active are closed and reopened by path). Default 256. */
  maxOpenFiles?: number;
  /** How long stop() waits for an in-flight onRecords before writing the checkpoint anyway. Default 30 000 ms. */
  stopTimeoutMs?: number;
  /** When aborted (a shutdown deadline passed), stop() stops waiting for the batch in flight. */
  signal?: AbortSignal;
}

/** Bytes of a file's head hashed to recognise it again (rotation, truncation, inode reuse). */
export const FINGERPRINT_BYTES = 1024;
const CHUNK_BYTES = 1 << 20;
const DEAD_LETTER_PREFIX_BYTES = 16 * 1024;

interface Reader {
  key: string;
  path: string;
  dev: string;
  ino: string;
  fh: FileHandle | undefined;
  gzip: boolean;
  fingerprint: string;
  fingerprintBytes: number;
  /** Next byte to read (plain) or decompressed bytes seen (gzip). */
  readPos: number;
  /** Complete lines consumed so far. */
  line: number;
  /** Bytes of an incomplete last line, held until its newline arrives. */
  partial: Buffer | undefined;
  /** Inside an oversize line: discard until the next newline. */
  skipping: boolean;
  committedOffset: number;
  committedLine: number;
  firstLine: string | undefined;
  done: boolean;
  /** Size on disk when last read to the end. */
  size: number;
  /** Size seen by the last scan (document stability check). */
  scanSize: number;
  lastActive: number;
}

/** Records accumulated for the next batch of one reader. */
interface Pending {
  records: string[];
  lines: number[];
  endOffset: number;
  endLine: number;
}

class Stopped extends Error {}

/** onRecords rejected: reading stops, nothing after the last accepted batch is committed. */
class ConsumerError extends Error {
  constructor(readonly reason: unknown) {
    super(errorMessage(reason));
  }
}

const sha256 = (buf: Uint8Array) => createHash('sha256').update(buf).digest('hex');

function byPath(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Reads records from files and directories: plain or gzip (by magic bytes),
 * framed as lines or as one document per file, once or following appends,
 * with checkpoints committed only after the consumer accepted a batch.
 */
export class FileSource {
  readonly done: Promise<void>;
  private resolveDone!: () => void;
  private readonly logger: Logger;
  private readonly matches: (name: string) => boolean;
  private readonly entries: KeyedState<string, CheckpointEntry>;
  private readonly readers = new Map<string, Reader>();
  private readonly buffer = Buffer.allocUnsafe(CHUNK_BYTES);
  private readonly reported = new Set<string>();
  private readonly checkpointPath: string | undefined;
  private started = false;
  private stopping = false;
  private stopPromise: Promise<void> | undefined;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private checkpointTimer: NodeJS.Timeout | undefined;
  private dirty = false;
  private writing: Promise<void> = Promise.resolve();
  private firstScan = true;

  constructor(
    readonly config: FileSourceConfig,
    readonly options: FileSourceOptions,
  ) {
    this.logger = options.logger ?? silentLogger;
    this.matches = basenameMatcher(config.include, config.exclude);
    this.entries = new KeyedState({ maxKeys: options.maxTrackedFiles ?? 100_000, ttlMs: options.trackedFileTtlMs ?? 7 * 24 * 3_600_000 });
    this.checkpointPath = config.checkpoint ? resolve(config.checkpoint.path) : undefined;
    this.done = new Promise((r) => {
      this.resolveDone = r;
    });
    options.metrics?.gauge('state_keys', () => this.entries.size, { state: 'file_checkpoint' });
  }

  /** Load the checkpoint, then read in the background. Resolves once reading has begun. */
  async start(): Promise<void> {
    if (this.started || this.stopping) return;
    this.started = true;
    if (this.checkpointPath) {
      try {
        const loaded = await readCheckpoint(this.checkpointPath);
        loaded.sort((a, b) => a.updated - b.updated);
        for (const e of loaded) this.entries.set(identityKey(e.dev, e.ino), e, e.updated);
      } catch (err) {
        this.logger.warn('file checkpoint unreadable; starting without it', { path: this.checkpointPath, error: errorMessage(err) });
        this.options.metrics?.add('errors', 1, 'checkpoint_unreadable');
      }
      if (this.stopping) return;
      const interval = this.config.checkpoint?.intervalMs ?? 5_000;
      this.checkpointTimer = setInterval(() => void this.saveCheckpoint(), interval);
      this.checkpointTimer.unref();
    }
    this.loop = this.run();
  }

  /** Stop reading, wait for the batch in flight, write the final checkpoint. Idempotent; safe before start. */
  stop(): Promise<void> {
    this.stopPromise ??= this.doStop();
    return this.stopPromise;
  }

  private async doStop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    if (this.loop) {
      let timer: NodeJS.Timeout | undefined;
      let onAbort: (() => void) | undefined;
      const signal = this.options.signal;
      const giveUp = new Promise<void>((r) => {
        timer = setTimeout(r, this.options.stopTimeoutMs ?? 30_000);
        timer.unref();
        onAbort = () => r();
        if (signal?.aborted) r();
        else signal?.addEventListener('abort', onAbort, { once: true });
      });
      await Promise.race([this.loop, giveUp]);
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
    }
    if (this.checkpointTimer) clearInterval(this.checkpointTimer);
    await this.saveCheckpoint(true);
    for (const r of this.readers.values()) await this.closeReader(r);
    this.readers.clear();
    this.resolveDone();
  }

  private async run(): Promise<void> {
    try {
      if (!this.config.follow) {
        await this.pass(true);
        for (const r of this.readers.values()) await this.closeReader(r);
        this.readers.clear();
        await this.saveCheckpoint(true);
        this.resolveDone();
        return;
      }
      while (!this.stopping) {
        try {
          await this.pass(false);
        } catch (err) {
          if (err instanceof Stopped || err instanceof ConsumerError) throw err;
          // An unexpected failure of one scan (file system trouble): count it and try again next poll.
          this.logger.error('file scan failed', { error: errorMessage(err) });
          this.options.metrics?.add('errors', 1, 'scan_failed');
        }
        this.firstScan = false;
        await this.closeIdle();
        if (this.stopping) break;
        await new Promise<void>((r) => {
          const t = setTimeout(r, this.config.pollIntervalMs);
          this.wake = () => {
            clearTimeout(t);
            r();
          };
        });
        this.wake = undefined;
      }
    } catch (err) {
      if (err instanceof Stopped) return;
      // onRecords rejected (or a one-shot read failed unexpectedly): nothing after the last accepted batch is
      // committed, so a restart reads it again.
      const reason = err instanceof ConsumerError ? 'emit_failed' : 'read_failed';
      this.logger.error('file source stopped', { reason, error: errorMessage(err) });
      this.options.onError({ reason, message: `file source stopped: ${errorMessage(err)}` });
      this.stopping = true;
      await this.saveCheckpoint(true);
      if (!this.config.follow) this.resolveDone();
    }
  }

  // ---------------------------------------------------------------- discovery

  private reportOnce(key: string, error: TransportError): void {
    if (this.reported.has(key)) return;
    if (this.reported.size >= 10_000) this.reported.clear();
    this.reported.add(key);
    this.options.onError(error);
  }

  private isOwnFile(path: string): boolean {
    if (!this.checkpointPath) return false;
    const abs = resolve(path);
    return abs === this.checkpointPath || abs.startsWith(`${this.checkpointPath}.tmp-`);
  }

  /** Every readable file under the configured paths, sorted by path. */
  private async discover(): Promise<[string, BigIntStats][]> {
    const found = new Map<string, BigIntStats>();
    for (const p of this.config.paths) {
      let st: BigIntStats;
      try {
        st = await stat(p, { bigint: true });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' && this.config.follow) continue; // may appear later
        this.reportOnce(`stat:${p}`, { reason: code === 'ENOENT' ? 'not_found' : 'read_failed', message: errorMessage(err), location: p });
        continue;
      }
      if (st.isFile()) {
        if (!this.isOwnFile(p)) found.set(p, st);
      } else if (st.isDirectory()) {
        await this.walk(p, found);
      }
    }
    return [...found.entries()].sort((a, b) => byPath(a[0], b[0]));
  }

  private async walk(dir: string, found: Map<string, BigIntStats>): Promise<void> {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      this.reportOnce(`readdir:${dir}`, { reason: 'read_failed', message: errorMessage(err), location: dir });
      return;
    }
    for (const entry of entries) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (this.config.recursive) await this.walk(full, found);
        continue;
      }
      if (!(entry.isFile() || entry.isSymbolicLink()) || !this.matches(entry.name) || this.isOwnFile(full)) continue;
      try {
        const st = await stat(full, { bigint: true });
        if (st.isFile()) found.set(full, st);
      } catch {
        // vanished between readdir and stat, or a dangling link
      }
    }
  }

  // ---------------------------------------------------------------- one pass

  /** Scan, then read what is new in every file, in path order. `final`: a one-shot read (follow=false). */
  private async pass(final: boolean): Promise<void> {
    const found = await this.discover();
    const now = Date.now();
    const seen = new Map<string, { path: string; st: BigIntStats }>();
    for (const [path, st] of found) {
      const key = identityKey(st.dev, st.ino);
      if (!seen.has(key)) seen.set(key, { path, st });
    }
    // Files gone from their paths (rotated away or deleted): read what was appended before they left, then close.
    for (const [key, r] of [...this.readers]) {
      if (seen.has(key)) continue;
      if (r.fh && !r.done) {
        try {
          await this.read(r, true);
        } catch (err) {
          if (err instanceof Stopped || err instanceof ConsumerError) throw err;
          this.logger.warn('could not finish a file that left its path', { path: r.path, error: errorMessage(err) });
        }
      }
      await this.closeReader(r);
      this.readers.delete(key);
    }
    for (const { path, st } of [...seen.values()].sort((a, b) => byPath(a.path, b.path))) {
      if (this.stopping) throw new Stopped();
      const key = identityKey(st.dev, st.ino);
      let r = this.readers.get(key);
      if (!r) {
        r = await this.newReader(key, path, st);
        if (!r) continue;
        this.readers.set(key, r);
      } else if (r.path !== path) {
        this.logger.debug('file renamed', { from: r.path, to: path });
        r.path = path;
      }
      this.entries.get(key, now);
      const size = Number(st.size);
      const prevScan = r.scanSize;
      r.scanSize = size;
      if (!this.hasNews(r, size, prevScan, final)) continue;
      try {
        await this.read(r, final);
      } catch (err) {
        if (err instanceof Stopped || err instanceof ConsumerError) throw err;
        const message = errorMessage(err);
        this.reportOnce(`read:${key}:${message}`, { reason: 'read_failed', message, location: r.path });
        await this.closeReader(r);
        this.readers.delete(key);
        continue;
      }
      if (final) {
        await this.closeReader(r);
        this.readers.delete(key);
      }
    }
  }

  private hasNews(r: Reader, size: number, prevScan: number, final: boolean): boolean {
    if (this.options.framing === 'document') {
      if (r.done) return false;
      // While following, read a document only once its size held still for one poll interval.
      return final || size === prevScan;
    }
    if (r.gzip) return size !== r.size;
    return size !== r.readPos || final;
  }

  private async newReader(key: string, path: string, st: BigIntStats): Promise<Reader | undefined> {
    const size = Number(st.size);
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (err) {
      this.reportOnce(`open:${path}`, { reason: 'read_failed', message: errorMessage(err), location: path });
      return undefined;
    }
    try {
      const head = await readAt(fh, Math.min(size, FINGERPRINT_BYTES), 0);
      if (this.config.follow && head.length < 2 && this.options.framing === 'lines') {
        // Too short to tell gzip from text: wait for more bytes.
        await fh.close();
        return undefined;
      }
      const r: Reader = {
        key,
        path,
        dev: String(st.dev),
        ino: String(st.ino),
        fh,
        gzip: isGzip(head),
        fingerprint: sha256(head),
        fingerprintBytes: head.length,
        readPos: 0,
        line: 0,
        partial: undefined,
        skipping: false,
        committedOffset: 0,
        committedLine: 0,
        firstLine: undefined,
        done: false,
        size: -1,
        scanSize: -1,
        lastActive: Date.now(),
      };
      const entry = this.entries.peek(key);
      if (entry && entry.fingerprintBytes <= head.length && sha256(head.subarray(0, entry.fingerprintBytes)) === entry.fingerprint) {
        if (entry.gzip === r.gzip && !(!r.gzip && entry.offset > size)) {
          r.readPos = entry.offset;
          r.line = entry.line;
          r.committedOffset = entry.offset;
          r.committedLine = entry.line;
          r.done = entry.done === true;
          r.size = entry.size;
          if (r.readPos > 0 && this.options.framing === 'lines' && !r.gzip) r.firstLine = await this.readFirstLine(fh, size);
          this.logger.debug('resuming file from checkpoint', { path, offset: entry.offset, line: entry.line });
        } else {
          this.logger.info('file truncated; reading it from the start', { path });
        }
      } else if (this.config.follow && this.firstScan && this.config.startAt === 'end') {
        await this.skipToEnd(r, size);
      }
      this.commit(r, r.committedOffset, r.committedLine);
      return r;
    } catch (err) {
      await fh.close().catch(() => undefined);
      this.reportOnce(`open:${path}`, { reason: 'read_failed', message: errorMessage(err), location: path });
      return undefined;
    }
  }

  /** startAt 'end': position after the last complete line, counting lines so later line numbers stay right. */
  private async skipToEnd(r: Reader, size: number): Promise<void> {
    if (r.gzip || this.options.framing === 'document') {
      r.done = true;
      r.size = size;
      return;
    }
    const fh = r.fh as FileHandle;
    let pos = 0;
    let lines = 0;
    let lastNl = -1;
    while (pos < size) {
      const { bytesRead } = await fh.read(this.buffer, 0, Math.min(this.buffer.length, size - pos), pos);
      if (bytesRead === 0) break;
      const chunk = this.buffer.subarray(0, bytesRead);
      let i = chunk.indexOf(10);
      while (i !== -1) {
        lines++;
        lastNl = pos + i;
        i = chunk.indexOf(10, i + 1);
      }
      pos += bytesRead;
    }
    r.readPos = lastNl + 1;
    r.line = lines;
    r.committedOffset = r.readPos;
    r.committedLine = lines;
    if (r.readPos > 0) r.firstLine = await this.readFirstLine(fh, size);
  }

  private async readFirstLine(fh: FileHandle, size: number): Promise<string | undefined> {
    const limit = Math.min(size, this.config.maxRecordBytes + 1);
    const parts: Buffer[] = [];
    let pos = 0;
    while (pos < limit) {
      const chunk = await readAt(fh, Math.min(64 * 1024, limit - pos), pos);
      if (chunk.length === 0) break;
      const nl = chunk.indexOf(10);
      if (nl !== -1) {
        parts.push(chunk.subarray(0, nl));
        return stripCr(Buffer.concat(parts).toString('utf8'));
      }
      parts.push(chunk);
      pos += chunk.length;
    }
    return undefined;
  }

  // ---------------------------------------------------------------- reading

  private async ensureOpen(r: Reader): Promise<FileHandle> {
    if (r.fh) return r.fh;
    let fh: FileHandle;
    try {
      fh = await open(r.path, 'r');
    } catch (err) {
      throw new ReadError(errorMessage(err));
    }
    const st = await fh.stat({ bigint: true });
    if (String(st.ino) !== r.ino || String(st.dev) !== r.dev) {
      await fh.close();
      throw new ReadError(`${r.path} was replaced`);
    }
    r.fh = fh;
    return fh;
  }

  private async read(r: Reader, final: boolean): Promise<void> {
    const fh = await this.ensureOpen(r);
    r.lastActive = Date.now();
    let size: number;
    try {
      size = (await fh.stat()).size;
    } catch (err) {
      throw new ReadError(errorMessage(err));
    }
    if (this.options.framing === 'document') return this.readDocument(r, fh, size);
    await this.checkIdentity(r, fh, size);
    if (r.gzip) return this.readGzip(r, fh, size, final);
    return this.readPlain(r, fh, size, final);
  }

  /** Detect truncation or rewrite (head no longer matches), and extend a short fingerprint as the file grows. */
  private async checkIdentity(r: Reader, fh: FileHandle, size: number): Promise<void> {
    const truncated = !r.gzip && size < r.readPos;
    let rewritten = false;
    if (!truncated && size !== r.size && r.fingerprintBytes > 0) {
      const head = await readAt(fh, r.fingerprintBytes, 0);
      rewritten = head.length < r.fingerprintBytes || sha256(head) !== r.fingerprint;
    }
    if (truncated || rewritten) {
      this.logger.info('file truncated or rewritten; reading it from the start', { path: r.path });
      r.readPos = 0;
      r.line = 0;
      r.partial = undefined;
      r.skipping = false;
      r.firstLine = undefined;
      r.done = false;
      r.size = -1;
      r.committedOffset = 0;
      r.committedLine = 0;
    }
    if (r.fingerprintBytes < FINGERPRINT_BYTES && size > r.fingerprintBytes) {
      const head = await readAt(fh, Math.min(size, FINGERPRINT_BYTES), 0);
      r.fingerprint = sha256(head);
      r.fingerprintBytes = head.length;
      if (r.readPos === 0) r.gzip = isGzip(head);
    }
    if (truncated || rewritten) this.commit(r, 0, 0);
  }

  private async readPlain(r: Reader, fh: FileHandle, size: number, final: boolean): Promise<void> {
    const acc = this.pending(r);
    const buf = this.buffer;
    while (r.readPos < size) {
      let bytesRead: number;
      try {
        ({ bytesRead } = await fh.read(buf, 0, Math.min(buf.length, size - r.readPos), r.readPos));
      } catch (err) {
        throw new ReadError(errorMessage(err));
      }
      if (bytesRead === 0) break;
      const base = r.readPos;
      r.readPos += bytesRead;
      await this.feed(r, buf.subarray(0, bytesRead), base, acc);
    }
    if (final) this.takeRest(r, acc);
    r.size = size;
    await this.flush(r, acc);
  }

  private async readGzip(r: Reader, fh: FileHandle, size: number, final: boolean): Promise<void> {
    const skipTo = r.committedOffset;
    r.readPos = 0;
    r.line = r.committedLine;
    r.partial = undefined;
    r.skipping = false;
    const acc = this.pending(r);
    const needFirst = this.options.framing === 'lines' && r.firstLine === undefined && skipTo > 0;
    const head: Buffer[] = [];
    let headBytes = 0;
    const source = fh.createReadStream({ start: 0, autoClose: false, highWaterMark: CHUNK_BYTES });
    const gunzipStream = createGunzip({ chunkSize: 256 * 1024 });
    pipeline(source, gunzipStream, () => undefined);
    let complete = false;
    try {
      for await (const chunk of gunzipStream as AsyncIterable<Buffer>) {
        let c = chunk;
        if (r.readPos < skipTo) {
          if (needFirst && r.firstLine === undefined && headBytes <= this.config.maxRecordBytes) {
            const nl = c.indexOf(10);
            head.push(nl === -1 ? c : c.subarray(0, nl));
            headBytes += c.length;
            if (nl !== -1) r.firstLine = stripCr(Buffer.concat(head).toString('utf8'));
          }
          const skip = Math.min(c.length, skipTo - r.readPos);
          r.readPos += skip;
          if (skip === c.length) continue;
          c = c.subarray(skip);
        }
        const base = r.readPos;
        r.readPos += c.length;
        await this.feed(r, c, base, acc);
      }
      complete = true;
    } catch (err) {
      if (err instanceof Stopped || err instanceof ConsumerError) throw err;
      if (this.stopping) throw new Stopped();
      const truncatedStream = /unexpected end of file/i.test(errorMessage(err));
      if (truncatedStream && this.config.follow && !final) {
        // Still being written: keep what was accepted, try again when the file grows.
        await this.flush(r, acc);
        r.size = size;
        r.partial = undefined;
        return;
      }
      this.options.onError({ reason: 'gzip_failed', message: `${r.path}: ${errorMessage(err)}`, location: r.path });
    } finally {
      source.destroy();
      gunzipStream.destroy();
    }
    if (!complete) this.logger.debug('gzip stream ended early', { path: r.path });
    this.takeRest(r, acc);
    r.size = size;
    r.done = true;
    acc.done = true;
    await this.flush(r, acc);
  }

  private async readDocument(r: Reader, fh: FileHandle, size: number): Promise<void> {
    const max = this.config.maxRecordBytes;
    const acc = this.pending(r);
    acc.done = true;
    if (size === 0) {
      // An empty file has no document yet; while following, wait for it to be written.
      if (this.config.follow) return;
    } else if (size > max) {
      const prefix = await readAt(fh, Math.min(DEAD_LETTER_PREFIX_BYTES, size), 0).catch(() => Buffer.alloc(0));
      this.tooLarge(r.path, prefix, `${size} bytes on disk exceed maxRecordBytes ${max}`, r.path);
    } else {
      let raw: Buffer;
      try {
        raw = await readAt(fh, size, 0);
      } catch (err) {
        throw new ReadError(errorMessage(err));
      }
      let data: Buffer | undefined = raw;
      if (isGzip(raw)) {
        try {
          data = await gunzipAsync(raw, { maxOutputLength: max });
        } catch (err) {
          data = undefined;
          if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
            this.tooLarge(r.path, raw.subarray(0, DEAD_LETTER_PREFIX_BYTES), `decompressed size exceeds maxRecordBytes ${max}`, r.path);
          } else {
            this.options.onError({
              reason: 'gzip_failed',
              message: `${r.path}: ${errorMessage(err)}`,
              raw: raw.subarray(0, DEAD_LETTER_PREFIX_BYTES),
              location: r.path,
            });
          }
        }
      }
      if (data) {
        let text = data.toString('utf8');
        if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
        acc.records.push(text);
        acc.lines.push(1);
      }
      acc.endOffset = data?.length ?? size;
      acc.endLine = 1;
    }
    r.done = true;
    r.size = size;
    await this.flush(r, acc);
  }

  private pending(r: Reader): Pending & { done?: boolean } {
    return { records: [], lines: [], endOffset: r.committedOffset, endLine: r.committedLine };
  }

  private tooLarge(path: string, prefix: Uint8Array, message: string, location: string): void {
    this.options.onError({ reason: 'record_too_large', message: `${path}: ${message}; the first ${prefix.length} bytes are kept`, raw: prefix, location });
  }

  /**
   * Consume one chunk (at file or stream offset `base`). A held partial line is
   * completed with the chunk's first line only, so the chunk itself is not copied.
   */
  private async feed(r: Reader, chunk: Buffer, base: number, acc: Pending): Promise<void> {
    const held = r.partial;
    if (!held) return this.consume(r, chunk, base, acc);
    r.partial = undefined;
    const nl = chunk.indexOf(10);
    if (nl === -1) return this.consume(r, Buffer.concat([held, chunk]), base - held.length, acc);
    await this.consume(r, Buffer.concat([held, chunk.subarray(0, nl + 1)]), base - held.length, acc);
    if (nl + 1 < chunk.length) await this.consume(r, chunk.subarray(nl + 1), base + nl + 1, acc);
  }

  /** Split `data` (file or stream offset `base`) into lines; hold an incomplete last line in `r.partial`. */
  private async consume(r: Reader, data: Buffer, base: number, acc: Pending): Promise<void> {
    const max = this.config.maxRecordBytes;
    let s = 0;
    if (r.skipping) {
      const nl = data.indexOf(10);
      if (nl === -1) return;
      r.skipping = false;
      r.line++;
      s = nl + 1;
      acc.endOffset = base + s;
      acc.endLine = r.line;
    }
    const lastNl = data.lastIndexOf(10);
    if (lastNl >= s) {
      const text = data.toString('utf8', s, lastNl);
      // Pure ASCII (or only 1-byte invalid sequences): string length equals byte length line by line.
      const ascii = text.length === lastNl - s;
      const lines = text.split('\n');
      const batchSize = this.config.batchSize;
      let pos = s;
      for (let i = 0; i < lines.length; i++) {
        const line = lines[i] as string;
        const bytes = ascii ? line.length : data.indexOf(10, pos) - pos;
        const end = pos + bytes + 1;
        const n = ++r.line;
        if (bytes > max) {
          if (n === 1) r.firstLine = undefined;
          this.tooLarge(
            r.path,
            data.subarray(pos, pos + Math.min(bytes, DEAD_LETTER_PREFIX_BYTES)),
            `line of ${bytes} bytes exceeds maxRecordBytes ${max}`,
            `${r.path}:${n}`,
          );
        } else {
          const rec = line.charCodeAt(line.length - 1) === 13 ? line.slice(0, -1) : line;
          if (n === 1) r.firstLine = rec;
          if (rec.length > 0) {
            acc.records.push(rec);
            acc.lines.push(n);
          }
        }
        acc.endOffset = base + end;
        acc.endLine = n;
        pos = end;
        if (acc.records.length >= batchSize) await this.flush(r, acc);
      }
    }
    const restStart = Math.max(s, lastNl + 1);
    if (restStart >= data.length) return;
    const restBytes = data.length - restStart;
    if (restBytes > max) {
      this.tooLarge(
        r.path,
        data.subarray(restStart, restStart + DEAD_LETTER_PREFIX_BYTES),
        `line longer than maxRecordBytes ${max}`,
        `${r.path}:${r.line + 1}`,
      );
      r.skipping = true;
      return;
    }
    r.partial = Buffer.from(data.subarray(restStart));
  }

  /** At the end of input, the last line may lack its newline: take it as a record. */
  private takeRest(r: Reader, acc: Pending): void {
    if (r.skipping) {
      r.skipping = false;
      r.line++;
      acc.endOffset = r.readPos;
      acc.endLine = r.line;
      return;
    }
    const rest = r.partial;
    r.partial = undefined;
    if (!rest || rest.length === 0) return;
    const n = ++r.line;
    const rec = stripCr(rest.toString('utf8'));
    if (n === 1) r.firstLine = rec;
    if (rec.length > 0) {
      acc.records.push(rec);
      acc.lines.push(n);
    }
    acc.endOffset = r.readPos;
    acc.endLine = n;
  }

  /** Hand the pending records to the consumer; commit their offset once it accepted them. */
  private async flush(r: Reader, acc: Pending & { done?: boolean }): Promise<void> {
    const { records, lines, endOffset, endLine } = acc;
    if (records.length > 0) {
      acc.records = [];
      acc.lines = [];
      const first = lines[0] as number;
      const batch: FileRecordBatch = { path: r.path, records, firstLineNumber: first, endOffset };
      if (lines[lines.length - 1] !== first + lines.length - 1) batch.lineNumbers = lines;
      if (this.options.framing === 'lines' && r.firstLine !== undefined) batch.firstLine = r.firstLine;
      r.lastActive = Date.now();
      try {
        await this.options.onRecords(batch);
      } catch (err) {
        throw new ConsumerError(err);
      }
    }
    if (endOffset !== r.committedOffset || endLine !== r.committedLine || acc.done) this.commit(r, endOffset, endLine);
    if (this.stopping) throw new Stopped();
  }

  private commit(r: Reader, offset: number, line: number): void {
    r.committedOffset = offset;
    r.committedLine = line;
    // Entries are kept in memory without a checkpoint file too: they recognise renamed files within one run.
    const now = Date.now();
    this.entries.set(
      r.key,
      {
        path: r.path,
        dev: r.dev,
        ino: r.ino,
        fingerprint: r.fingerprint,
        fingerprintBytes: r.fingerprintBytes,
        offset,
        line,
        gzip: r.gzip,
        ...(r.done ? { done: true } : {}),
        size: r.size,
        updated: now,
      },
      now,
    );
    this.dirty = true;
  }

  private async closeReader(r: Reader): Promise<void> {
    const fh = r.fh;
    r.fh = undefined;
    if (fh) await fh.close().catch(() => undefined);
  }

  /** Keep at most maxOpenFiles handles: close the least recently active ones, and the ones read to the end for good. */
  private async closeIdle(): Promise<void> {
    const max = this.options.maxOpenFiles ?? 256;
    const open = [...this.readers.values()].filter((r) => r.fh);
    for (const r of open) if (r.done) await this.closeReader(r);
    const still = open.filter((r) => r.fh).sort((a, b) => a.lastActive - b.lastActive);
    for (let i = 0; i < still.length - max; i++) await this.closeReader(still[i] as Reader);
  }

  private async saveCheckpoint(force = false): Promise<void> {
    if (!this.checkpointPath || (!this.dirty && !force)) return;
    const path = this.checkpointPath;
    this.writing = this.writing.then(async () => {
      if (!this.dirty && !force) return;
      this.dirty = false;
      this.entries.expire(Date.now());
      const snapshot = [...this.entries.entries()].map(([, e]) => e);
      try {
        await writeCheckpoint(path, snapshot);
      } catch (err) {
        this.dirty = true;
        this.options.metrics?.add('errors', 1, 'checkpoint_write_failed');
        this.logger.error('file checkpoint write failed', { path, error: errorMessage(err) });
      }
    });
    await this.writing;
  }
}

class ReadError extends Error {}

function stripCr(s: string): string {
  return s.charCodeAt(s.length - 1) === 13 ? s.slice(0, -1) : s;
}

async function readAt(fh: FileHandle, length: number, position: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got === length ? buf : buf.subarray(0, got);
}
