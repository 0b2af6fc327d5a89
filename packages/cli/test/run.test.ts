import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateScenario, writeScenario } from '@outflow/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { run } from './helpers.js';

const bin = fileURLToPath(new URL('../bin/outflow.js', import.meta.url));

describe('outflow run', () => {
  let dir: string;
  let scenario: ReturnType<typeof writeScenario>;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'run-'));
    scenario = writeScenario(join(dir, 'data'), generateScenario({ seed: 5, hours: 3, scenarios: ['cloud_shares'], attackAt: 0.5 }));
  });

  it('runs a YAML pipeline to the end of its files and exports alerts', async () => {
    const out = join(dir, 'alerts.jsonl');
    const config = join(dir, 'pipeline.yaml');
    writeFileSync(
      config,
      [
        'name: test',
        'receivers:',
        '  - type: aws_cloudtrail',
        `    config: { file: { paths: ["${scenario.aws_cloudtrail}"] } }`,
        'detections:',
        '  - type: t1537',
        `    config: ${JSON.stringify(JSON.parse(readFileSync(scenario.config, 'utf8')))}`,
        'exporters:',
        '  - type: file',
        `    config: { path: "${out}" }`,
      ].join('\n'),
    );
    const r = await run(['run', config]);
    expect(r.code).toBe(0);
    const ids = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { detection: { id: string } }).detection.id)
      .sort();
    expect(ids).toEqual(expect.arrayContaining(['ami_shared', 'rds_snapshot_shared', 's3_bucket_policy_external']));
  });

  it('reports every configuration problem with its path, and --check validates only', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(
      bad,
      [
        'receivers:',
        '  - type: k8s_audit',
        '    config: { http: { port: 99999 } }',
        '  - type: nope',
        'exporters:',
        '  - type: webhook',
        '    config: { url: "not a url" }',
        'bogus: 1',
      ].join('\n'),
    );
    const r = await run(['run', '--check', bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/unknown key "bogus"/);
    const fixed = join(dir, 'bad2.yaml');
    writeFileSync(
      fixed,
      [
        'receivers:',
        '  - type: k8s_audit',
        '    config: { http: { port: 99999 } }',
        '  - type: nope',
        'exporters:',
        '  - type: webhook',
        '    config: { url: "not a url" }',
      ].join('\n'),
    );
    const r2 = await run(['run', '--check', fixed]);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toMatch(/receivers\[1\]\.type: unknown receiver type "nope"/);
    expect(r2.stderr).toMatch(/receivers\[0\]\.http\.port/);
    expect(r2.stderr).toMatch(/exporters\[0\]\.url/);
    const good = join(dir, 'good.yaml');
    writeFileSync(good, ['receivers:', '  - type: falco', '    config: { http: { port: 0 } }'].join('\n'));
    const r3 = await run(['run', '--check', good]);
    expect(r3.code).toBe(0);
  });

  it('loads a TypeScript config module', async () => {
    const mod = join(dir, 'pipeline.config.ts');
    writeFileSync(
      mod,
      `import { createPipeline, type PipelineOptions } from '@outflow/core';\nimport { cloudTrail } from '@outflow/receiver-aws-cloudtrail';\nconst options: PipelineOptions = { receivers: [cloudTrail({ file: { paths: [${JSON.stringify(scenario.aws_cloudtrail)}] } })] };\nexport default () => createPipeline(options);\n`,
    );
    // resolve @outflow/* from the repository's node_modules
    const local = join(fileURLToPath(new URL('..', import.meta.url)), 'pipeline.config.test-tmp.ts');
    writeFileSync(local, readFileSync(mod, 'utf8'));
    try {
      const r = await run(['run', local]);
      expect(r.stderr).toMatch(/events received/);
      expect(r.code).toBe(0);
    } finally {
      (await import('node:fs')).rmSync(local, { force: true });
    }
  });

  it('shuts down gracefully on SIGTERM', async () => {
    const config = join(dir, 'listen.yaml');
    writeFileSync(config, ['receivers:', '  - type: falco', '    config: { http: { port: 0 } }'].join('\n'));
    const child = spawn(process.execPath, [bin, 'run', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`not running: ${stderr}`)), 15_000);
      const check = setInterval(() => {
        if (stderr.includes('running')) {
          clearInterval(check);
          clearTimeout(t);
          resolve();
        }
      }, 20);
    });
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(0);
    expect(stderr).toMatch(/stopped in \d+ ms/);
  });
});
