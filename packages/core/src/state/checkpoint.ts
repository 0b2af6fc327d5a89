import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * A piece of operator state that can be saved and restored: a detection's
 * baselines, windows, dedup state. `version` names what the state means (the
 * feature, the key, the parameters that shape it): state saved under another
 * version is not restored, and the operator relearns from scratch instead of
 * mixing two meanings.
 */
export interface CheckpointHandle {
  readonly version: string;
  /** Plain data (JSON-serialisable). */
  snapshot(): unknown;
  restore(state: unknown): void;
}

/** Everything a pipeline needs to resume: operator state and the input positions that state reflects. */
export interface PipelineCheckpoint {
  format: 'outflow.checkpoint/v1';
  pipeline: string;
  /** Processing time the checkpoint was taken. */
  takenAt: number;
  /** Event-time watermark at the checkpoint. */
  watermark: number | null;
  /** Per receiver name: its position (file offsets, stream sequences) covering exactly the events the state reflects. */
  positions: Record<string, unknown>;
  /** Per detection id, per registered handle name. */
  detections: Record<string, Record<string, { version: string; state: unknown }>>;
  /** Alert dedup state. */
  dedup?: unknown;
}

/** Where checkpoints are kept. */
export interface CheckpointStore {
  load(): Promise<PipelineCheckpoint | undefined>;
  save(checkpoint: PipelineCheckpoint): Promise<void>;
}

/**
 * Keeps the latest checkpoint in one JSON file, written atomically (temporary
 * file, fsync, rename) so a crash never leaves a torn checkpoint.
 */
export class FileCheckpointStore implements CheckpointStore {
  constructor(readonly path: string) {}

  async load(): Promise<PipelineCheckpoint | undefined> {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    const parsed = JSON.parse(text) as PipelineCheckpoint;
    if (parsed.format !== 'outflow.checkpoint/v1') throw new Error(`${this.path} is not an Outflow checkpoint`);
    return parsed;
  }

  async save(checkpoint: PipelineCheckpoint): Promise<void> {
    mkdirSync(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(checkpoint));
    const fd = openSync(tmp, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
  }
}

/** A store in memory, for tests and for hosts that persist checkpoints themselves. */
export class MemoryCheckpointStore implements CheckpointStore {
  latest: PipelineCheckpoint | undefined;
  saves = 0;
  async load(): Promise<PipelineCheckpoint | undefined> {
    return this.latest === undefined ? undefined : (JSON.parse(JSON.stringify(this.latest)) as PipelineCheckpoint);
  }
  async save(checkpoint: PipelineCheckpoint): Promise<void> {
    this.saves++;
    this.latest = JSON.parse(JSON.stringify(checkpoint)) as PipelineCheckpoint;
  }
}
