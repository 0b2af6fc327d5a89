import type { FileHandle } from 'node:fs/promises';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  type Alert,
  type ComponentContext,
  DeliveredKeys,
  defineComponent,
  deliveryFromConfig,
  deliveryKey,
  type Exporter,
  type ExporterDelivery,
  errorMessage,
  exporterDeliveryShape,
  PermanentError,
  RetryableError,
  usableAlerts,
  z,
} from '@outflow/core';

export const fileConfigSchema = z
  .object({
    /** The JSON-lines file alerts are appended to; its directory is created. */
    path: z.string().min(1, 'path is required'),
    /** Rotate when the file would grow past this many bytes; 0 turns rotation off. */
    maxBytes: z
      .number()
      .int()
      .nonnegative()
      .default(100 * 1024 * 1024),
    /** Rotated files kept: `<path>.1` (newest) .. `<path>.<maxFiles>`; older ones are deleted. */
    maxFiles: z.number().int().nonnegative().default(5),
    /** fdatasync after every batch: an export resolves only once its alerts are on disk. */
    fsync: z.boolean().default(false),
    /** Permissions of a created file (alerts name workloads and accounts: keep them private). */
    fileMode: z.number().int().min(0).max(0o777).default(0o600),
    ...exporterDeliveryShape,
  })
  .strict();

export type FileExporterConfig = z.output<typeof fileConfigSchema>;

const PERMANENT_CODES = new Set(['EEXIST', 'EACCES', 'EPERM', 'EROFS', 'EISDIR', 'ENOTDIR', 'EINVAL', 'ENAMETOOLONG', 'ELOOP']);

function fileError(what: string, err: unknown): RetryableError | PermanentError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const message = `${what}: ${errorMessage(err)}`;
  return code && PERMANENT_CODES.has(code) ? new PermanentError(message, { cause: err }) : new RetryableError(message, { cause: err });
}

/**
 * Appends alerts as JSON lines (one alert per line, in the canonical alert
 * schema), rotating by size and optionally syncing every batch. A batch that
 * fails midway is cut back to where it started (or, past a rotation, not
 * written again on retry), so retries do not duplicate lines.
 */
export class FileExporter implements Exporter {
  readonly delivery: ExporterDelivery;
  private handle: FileHandle | undefined;
  private size = 0;
  private chain: Promise<void> = Promise.resolve();
  private closed = false;
  /** Delivery keys already written by an earlier attempt of a failed batch. */
  private readonly written = new DeliveredKeys({ maxKeys: 50_000, ttlMs: 3_600_000 });
  /** Rotations so far. */
  rotations = 0;
  /** fdatasync calls so far. */
  syncs = 0;

  constructor(
    private readonly ctx: Pick<ComponentContext, 'deadLetter'>,
    private readonly config: FileExporterConfig,
  ) {
    this.delivery = deliveryFromConfig(config);
  }

  async start(): Promise<void> {
    await this.serial(() => this.ensureOpen());
  }

  private serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.chain.then(task);
    this.chain = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async ensureOpen(): Promise<FileHandle> {
    if (this.handle) return this.handle;
    try {
      await mkdir(dirname(this.config.path), { recursive: true });
      const handle = await open(this.config.path, 'a', this.config.fileMode);
      this.size = (await handle.stat()).size;
      this.handle = handle;
      return handle;
    } catch (err) {
      throw fileError(`cannot open ${this.config.path}`, err);
    }
  }

  export(batch: readonly Alert[], _signal: AbortSignal): Promise<void> {
    if (this.closed) return Promise.reject(new PermanentError('file exporter is shut down'));
    const alerts = usableAlerts(batch, this.ctx).filter((a) => !this.written.has(deliveryKey(a)));
    if (alerts.length === 0) return Promise.resolve();
    return this.serial(() => this.write(alerts));
  }

  private async write(alerts: Alert[]): Promise<void> {
    let handle = await this.ensureOpen();
    const max = this.config.maxBytes;
    let chunk: string[] = [];
    let chunkAlerts: Alert[] = [];
    let chunkBytes = 0;
    const flush = async () => {
      if (chunk.length === 0) return;
      const data = Buffer.from(chunk.join(''));
      const before = this.size;
      try {
        let offset = 0;
        while (offset < data.length) {
          const { bytesWritten } = await handle.write(data, offset, data.length - offset);
          offset += bytesWritten;
        }
      } catch (err) {
        // Cut the partial batch back so a retry does not leave half a line or duplicates.
        await handle.truncate(before).catch(() => {});
        throw fileError(`writing ${this.config.path} failed`, err);
      }
      this.size = before + data.length;
      for (const a of chunkAlerts) this.written.add(deliveryKey(a));
      chunk = [];
      chunkAlerts = [];
      chunkBytes = 0;
    };
    for (const alert of alerts) {
      const line = `${JSON.stringify(alert)}\n`;
      const bytes = Buffer.byteLength(line);
      if (max > 0 && this.size + chunkBytes + bytes > max && this.size + chunkBytes > 0) {
        await flush();
        if (this.size > 0) {
          await this.sync(handle);
          handle = await this.rotate();
        }
      }
      chunk.push(line);
      chunkAlerts.push(alert);
      chunkBytes += bytes;
    }
    await flush();
    await this.sync(handle);
  }

  private async sync(handle: FileHandle): Promise<void> {
    if (!this.config.fsync) return;
    try {
      await handle.datasync();
      this.syncs++;
    } catch (err) {
      throw fileError(`fsync of ${this.config.path} failed`, err);
    }
  }

  /** `<path>` → `<path>.1` → ... → `<path>.<maxFiles>` (deleted past that), then a fresh `<path>`. */
  private async rotate(): Promise<FileHandle> {
    const path = this.config.path;
    await this.handle?.close();
    this.handle = undefined;
    try {
      const keep = this.config.maxFiles;
      if (keep === 0) {
        await rm(path, { force: true });
      } else {
        await rm(`${path}.${keep}`, { force: true });
        for (let i = keep - 1; i >= 1; i--) {
          if (await exists(`${path}.${i}`)) await rename(`${path}.${i}`, `${path}.${i + 1}`);
        }
        await rename(path, `${path}.1`);
      }
    } catch (err) {
      throw fileError(`rotating ${path} failed`, err);
    }
    this.rotations++;
    return this.ensureOpen();
  }

  async forceFlush(): Promise<void> {
    await this.serial(async () => {
      if (this.handle && this.config.fsync) await this.sync(this.handle);
    });
  }

  async shutdown(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.chain;
    const handle = this.handle;
    this.handle = undefined;
    await handle?.close();
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** `file` exporter: alerts as JSON lines, rotated by size, optionally fsynced. */
export const fileExporter = defineComponent({
  type: 'file',
  kind: 'exporter',
  stability: 'beta',
  description: 'Appends alerts as JSON lines (canonical alert schema), rotating by size, with an optional fsync per batch.',
  schema: fileConfigSchema,
  create: (ctx, config) => new FileExporter(ctx, config),
});
