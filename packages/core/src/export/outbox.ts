import { closeSync, existsSync, fdatasync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { type Alert, deliveryKey } from '../alert.js';
import { errorMessage } from '../errors.js';

/** How an exporter's outbox file is used. */
export type OutboxMode =
  /** Every alert is written (and synced) before it is delivered, and acknowledged after: a crash, even SIGKILL, loses nothing. */
  | 'write_ahead'
  /** Only alerts still undelivered after retries (or at the shutdown deadline) are written. Cheaper; survives clean restarts and outages, not crashes. */
  | 'on_failure';

export interface OutboxOptions {
  /** The JSON-lines file; its directory is created. */
  path: string;
  /** Default `write_ahead`. */
  mode?: OutboxMode;
  /** fdatasync each group of writes before delivery goes on. Default true. */
  fsync?: boolean;
  /** Most alerts held. Past it new alerts are not written (the runner counts `errors{reason=outbox_full}`). Default 100 000. */
  maxAlerts?: number;
  /** Rewrite the file without acknowledged records once it is larger than this and than four times what is pending, bytes. Default 8 MiB. */
  compactBytes?: number;
}

/** A line of the outbox file that could not be read back. */
export interface OutboxCorruptRecord {
  line: number;
  raw: string;
  /** True for an unterminated last line: a write cut short by a crash (it was never reported durable). */
  torn: boolean;
  message: string;
}

/**
 * A durable, append-only file of alerts waiting for delivery, re-sent on the
 * next start. Records are JSON lines: `{"add": <alert>}` and
 * `{"ack": [<delivery key>, ...]}`; an alert is pending from its `add` until
 * an `ack` names its delivery key. On open the file is read back, unreadable
 * lines are reported (a torn last line after a crash is expected), and the
 * file is rewritten with only what is pending.
 */
export class AlertOutbox {
  readonly path: string;
  readonly mode: OutboxMode;
  private readonly fsync: boolean;
  readonly maxAlerts: number;
  private readonly compactBytes: number;
  private fd: number | undefined;
  /** Pending alerts by delivery key: their `add` line, in insertion order. */
  private readonly pending = new Map<string, string>();
  private pendingBytes = 0;
  private fileBytes = 0;
  private buffer: string[] = [];
  private bufferHasAdds = false;
  private chain: Promise<void> = Promise.resolve();
  private scheduled = false;
  private closed = false;
  /** Alerts written and synced so far (in this process). */
  durable = 0;
  private unsynced = 0;

  constructor(options: OutboxOptions) {
    this.path = options.path;
    this.mode = options.mode ?? 'write_ahead';
    this.fsync = options.fsync ?? true;
    this.maxAlerts = options.maxAlerts ?? 100_000;
    this.compactBytes = options.compactBytes ?? 8 << 20;
  }

  /** Alerts written and not yet acknowledged. */
  get size(): number {
    return this.pending.size;
  }

  get isFull(): boolean {
    return this.pending.size >= this.maxAlerts;
  }

  /**
   * Read the file back, report unreadable lines, rewrite it with only the
   * pending alerts and open it for appending. Returns the pending alerts,
   * oldest first: the caller re-sends them.
   */
  open(onCorrupt?: (record: OutboxCorruptRecord) => void): Alert[] {
    if (this.fd !== undefined) throw new Error(`outbox ${this.path} is already open`);
    mkdirSync(dirname(this.path), { recursive: true });
    const recovered = new Map<string, { alert: Alert; line: string }>();
    if (existsSync(this.path)) {
      const text = readFileSync(this.path, 'utf8');
      const lines = text.split('\n');
      const terminated = text.endsWith('\n');
      for (let i = 0; i < lines.length; i++) {
        const line = lines[i] as string;
        if (line === '') continue;
        const last = i === lines.length - 1 && !terminated;
        let record: { add?: Alert; ack?: string[] };
        try {
          record = JSON.parse(line) as { add?: Alert; ack?: string[] };
        } catch (err) {
          onCorrupt?.({ line: i + 1, raw: line, torn: last, message: errorMessage(err) });
          continue;
        }
        if (record && typeof record === 'object' && record.add && typeof record.add === 'object' && typeof record.add.id === 'string') {
          recovered.set(deliveryKey(record.add), { alert: record.add, line });
        } else if (record && Array.isArray(record.ack)) {
          for (const key of record.ack) recovered.delete(String(key));
        } else {
          onCorrupt?.({ line: i + 1, raw: line, torn: false, message: 'neither an add nor an ack record' });
        }
      }
    }
    for (const [key, { line }] of recovered) this.track(key, line);
    this.rewrite();
    return [...recovered.values()].map((r) => r.alert);
  }

  private track(key: string, line: string): void {
    this.pending.set(key, line);
    this.pendingBytes += line.length + 1;
  }

  /** Rewrite the file with only the pending alerts, atomically (temp file, fsync, rename), and reopen it for appending. */
  private rewrite(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    const tmp = `${this.path}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      let body = '';
      for (const line of this.pending.values()) {
        body += `${line}\n`;
        if (body.length > 1 << 20) {
          writeSync(fd, body);
          body = '';
        }
      }
      if (body) writeSync(fd, body);
      if (this.fsync) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
    if (this.fsync) this.syncDirectory();
    this.fd = openSync(this.path, 'a');
    this.fileBytes = this.pendingBytes;
  }

  private syncDirectory(): void {
    try {
      const dir = openSync(dirname(this.path), 'r');
      try {
        fsyncSync(dir);
      } finally {
        closeSync(dir);
      }
    } catch {
      // some filesystems cannot fsync a directory; the rename is still atomic
    }
  }

  /**
   * Write alerts (not yet acknowledged) to the file. Returns how many were
   * taken: past `maxAlerts`, the rest are refused. Durable after the next
   * `commit()`.
   */
  add(alerts: readonly Alert[]): number {
    if (this.fd === undefined || this.closed) return 0;
    let taken = 0;
    for (const alert of alerts) {
      if (this.pending.size >= this.maxAlerts) break;
      const key = deliveryKey(alert);
      if (this.pending.has(key)) {
        taken++;
        continue;
      }
      const line = `{"add":${JSON.stringify(alert)}}`;
      this.track(key, line);
      this.buffer.push(line);
      taken++;
    }
    if (taken > 0) {
      this.bufferHasAdds = true;
      this.unsynced += taken;
      this.schedule();
    }
    return taken;
  }

  /** True when the alert's delivery is waiting in the outbox. */
  has(alert: Alert): boolean {
    return this.pending.has(deliveryKey(alert));
  }

  /** Mark alerts delivered (or dead-lettered for good). Unknown keys are ignored. */
  ack(alerts: readonly Alert[]): void {
    if (this.fd === undefined || this.closed) return;
    const keys: string[] = [];
    for (const alert of alerts) {
      const key = deliveryKey(alert);
      const line = this.pending.get(key);
      if (line === undefined) continue;
      this.pending.delete(key);
      this.pendingBytes -= line.length + 1;
      keys.push(key);
    }
    if (keys.length === 0) return;
    this.buffer.push(JSON.stringify({ ack: keys }));
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.commit().catch(() => {
        // reported to the caller of the next commit()
      });
    });
  }

  /** Write what is buffered and (for adds) fdatasync it. Resolves when everything added before the call is durable. */
  commit(): Promise<void> {
    const run = this.chain.then(() => this.flushBuffer());
    this.chain = run.catch(() => {});
    return run;
  }

  private async flushBuffer(): Promise<void> {
    const fd = this.fd;
    if (fd === undefined || this.buffer.length === 0) return;
    const lines = this.buffer;
    const sync = this.bufferHasAdds && this.fsync;
    const newlyDurable = this.unsynced;
    this.buffer = [];
    this.bufferHasAdds = false;
    this.unsynced = 0;
    const data = `${lines.join('\n')}\n`;
    writeSync(fd, data);
    this.fileBytes += Buffer.byteLength(data);
    if (sync) await new Promise<void>((resolve, reject) => fdatasync(fd, (err) => (err ? reject(err) : resolve())));
    this.durable += newlyDurable;
    // Rewrite once acknowledged records dominate: at most a quarter of what was appended is written again.
    if (this.fd === fd && this.fileBytes > this.compactBytes && this.pendingBytes * 4 < this.fileBytes) this.rewrite();
  }

  /** Commit what is buffered and close the file. Pending alerts stay in it for the next start. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.commit();
    this.closed = true;
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
