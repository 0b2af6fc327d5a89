import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/** What the checkpoint remembers about one file. */
export interface CheckpointEntry {
  /** Path the file was last seen at. */
  path: string;
  /** Device and inode, as decimal strings (inodes may exceed 2^53). */
  dev: string;
  ino: string;
  /** sha256 (hex) of the first `fingerprintBytes` bytes of the file as stored on disk. */
  fingerprint: string;
  fingerprintBytes: number;
  /** Plain files: byte offset after the last accepted line. Gzip files: offset in the decompressed stream. */
  offset: number;
  /** Lines consumed up to `offset` (for line numbers when resuming). */
  line: number;
  gzip: boolean;
  /** The whole file was read (gzip and 'document' framing; plain files keep tailing). */
  done?: boolean;
  /** Size on disk when last read. */
  size: number;
  /** Processing time of the last update, epoch ms. */
  updated: number;
}

export interface CheckpointDocument {
  version: 1;
  files: CheckpointEntry[];
}

export function identityKey(dev: string | bigint | number, ino: string | bigint | number): string {
  return `${dev}:${ino}`;
}

/** Read a checkpoint file. Missing file: empty. Unreadable or malformed: throws. */
export async function readCheckpoint(path: string): Promise<CheckpointEntry[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const doc = JSON.parse(text) as Partial<CheckpointDocument>;
  if (doc.version !== 1 || !Array.isArray(doc.files)) throw new Error('not an Outflow file checkpoint (version 1)');
  return doc.files.filter(
    (e): e is CheckpointEntry =>
      typeof e === 'object' &&
      e !== null &&
      typeof e.path === 'string' &&
      typeof e.dev === 'string' &&
      typeof e.ino === 'string' &&
      typeof e.fingerprint === 'string' &&
      Number.isInteger(e.fingerprintBytes) &&
      Number.isInteger(e.offset) &&
      e.offset >= 0 &&
      Number.isInteger(e.line),
  );
}

/** Write the checkpoint atomically: a temporary file in the same directory, then rename over the target. */
export async function writeCheckpoint(path: string, entries: Iterable<CheckpointEntry>): Promise<void> {
  const doc: CheckpointDocument = { version: 1, files: [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)) };
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, `${JSON.stringify(doc, null, 1)}\n`);
  await rename(tmp, path);
}
