import { PassThrough } from 'node:stream';
import type { CliIO } from '../src/cli-io.js';
import { main } from '../src/main.js';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run the CLI in process with captured output. */
export async function run(argv: string[], options: { env?: NodeJS.ProcessEnv; signal?: AbortSignal } = {}): Promise<RunResult> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => {
    out += c.toString('utf8');
  });
  stderr.on('data', (c: Buffer) => {
    err += c.toString('utf8');
  });
  const io: CliIO = { stdout, stderr, env: options.env ?? {}, cwd: process.cwd(), signal: options.signal ?? new AbortController().signal };
  const code = await main(argv, io);
  return { code, stdout: out, stderr: err };
}
