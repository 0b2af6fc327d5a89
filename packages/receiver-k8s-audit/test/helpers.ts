import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const TESTDATA = join(import.meta.dirname, '..', 'testdata');
/** Fixed ingest time for golden output. */
export const OBSERVED = Date.UTC(2024, 5, 1);

export function fixture(name: string): string {
  return readFileSync(join(TESTDATA, name), 'utf8');
}
