import { findNatsServer, type LocalNatsServer, startNatsServer } from '../../src/index.js';

/** The nats-server binary, or undefined: NATS tests are skipped (with a message) when it is missing. */
export const natsBin = findNatsServer();

if (!natsBin) {
  process.stderr.write('\n[transport-nats] nats-server is not installed: skipping the NATS tests (apt-get install nats-server, or set NATS_SERVER_BIN)\n\n');
}

/** Start a fresh server (own store directory, random loopback port) for one test. */
export function server(partitions = 4): Promise<LocalNatsServer> {
  return startNatsServer({ partitions });
}

export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
