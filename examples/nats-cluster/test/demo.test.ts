import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { findNatsServer } from '@outflow/transport-nats';
import { describe, expect, it } from 'vitest';

const demo = fileURLToPath(new URL('../dist/demo.js', import.meta.url));
const nats = findNatsServer();
if (!nats) process.stderr.write('\n[nats-cluster] nats-server is not installed: skipping the cluster demo test\n\n');

describe.skipIf(!nats)('npm run demo:cluster', () => {
  it('kills a detector mid-stream and loses and duplicates nothing', async () => {
    if (!existsSync(demo)) throw new Error('build the example first (npm test builds it)');
    const { stdout, code } = await new Promise<{ stdout: string; code: number | null }>((resolve) => {
      const child = execFile(process.execPath, [demo], { timeout: 150_000, maxBuffer: 10 * 1024 * 1024 }, (_err, stdout) =>
        resolve({ stdout, code: child.exitCode }),
      );
    });
    const lines = stdout.trim().split('\n');
    const last = lines.at(-1) ?? '';
    const m = /^cluster alerts=(\d+) single=(\d+) lost=(\d+) duplicated=(\d+)$/.exec(last);
    expect(m, stdout).not.toBeNull();
    const [, cluster, single, lost, duplicated] = (m as RegExpExecArray).map(Number);
    expect({ lost, duplicated }).toEqual({ lost: 0, duplicated: 0 });
    expect(cluster).toBe(single);
    expect(single).toBeGreaterThan(0);
    // a detector really died mid-stream and its partitions were restored elsewhere
    expect(stdout).toMatch(/killed d\d \(SIGKILL\) in the middle of the exfiltration/);
    expect(stdout).toMatch(/\(the attacked workload\) → d\d: checkpoint restored, replayed from stream sequence \d+/);
    expect(code).toBe(0);
  }, 160_000);
});
