import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, get } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NetworkFlowEvent } from '@outflow/core';
import { createTestContext, createTestHost } from '@outflow/testkit';
import { describe, expect, it } from 'vitest';
import { netflow } from '../src/receiver.js';

// End to end with the real exporter: Debian's softflowd watches the loopback interface and exports NetFlow v9 /
// IPFIX to our receiver on 127.0.0.1. All traffic stays on 127.0.0.1. Skipped when softflowd is not installed
// (`apt-get install softflowd`), or when it may not capture on `lo` (it needs CAP_NET_RAW).

const installed = !spawnSync('softflowd', ['-h']).error && !spawnSync('softflowctl', ['-h']).error;
if (!installed) console.warn('softflowd-e2e: skipped, softflowd/softflowctl not installed (apt-get install softflowd)');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!installed)('softflowd on loopback → netflow receiver', () => {
  for (const version of ['9', '10']) {
    it(`receives the flows softflowd exports as ${version === '9' ? 'NetFlow v9' : 'IPFIX'}`, async (ctx) => {
      const dir = mkdtempSync(join(tmpdir(), 'outflow-softflowd-'));
      const testCtx = createTestContext({ name: 'netflow', type: 'netflow', kind: 'receiver' });
      const receiver = netflow.create(testCtx, netflow.validate({ udp: { port: 0 } }));
      const host = createTestHost({ ctx: testCtx });
      const body = 'x'.repeat(50_000);
      const http = createServer((_req, res) => res.end(body));
      const sink = createSocket('udp4');
      const burst = createSocket('udp4');
      let softflowd: ChildProcess | undefined;
      const ctl = join(dir, 'softflowd.ctl');
      try {
        await receiver.start(host);
        const port = receiver.address()?.port as number;
        await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
        const httpPort = (http.address() as AddressInfo).port;
        await new Promise<void>((r) => sink.bind(0, '127.0.0.1', () => r()));
        const udpPort = sink.address().port;

        let stderr = '';
        softflowd = spawn(
          'softflowd',
          [
            '-i',
            'lo',
            '-n',
            `127.0.0.1:${port}`,
            '-v',
            version,
            '-d',
            '-p',
            join(dir, 'softflowd.pid'),
            '-c',
            ctl,
            `host 127.0.0.1 and (tcp port ${httpPort} or udp port ${udpPort})`,
          ],
          { stdio: ['ignore', 'ignore', 'pipe'] },
        );
        softflowd.stderr?.on('data', (chunk: Buffer) => {
          stderr += chunk.toString();
        });
        let exited = false;
        softflowd.once('exit', () => {
          exited = true;
        });
        for (let i = 0; i < 50 && !existsSync(ctl) && !exited; i++) await sleep(100);
        if (exited || !existsSync(ctl)) {
          console.warn(`softflowd-e2e: skipped, softflowd could not capture on lo: ${stderr.trim()}`);
          ctx.skip();
          return;
        }

        // a 50 kB HTTP response, server → client
        await new Promise<void>((resolve, reject) =>
          get(`http://127.0.0.1:${httpPort}/`, { agent: false }, (res) => {
            res.resume();
            res.on('end', () => resolve());
          }).on('error', reject),
        );
        // libpcap hands softflowd packets in blocks: keep sending small datagrams (also a flow) until the
        // HTTP flow has been seen, and ask softflowd to export everything it has each round
        const tcpFlow = () => (host.events as NetworkFlowEvent[]).find((e) => e.protocol === 6 && e.src.port === httpPort && (e.bytes ?? 0) >= body.length);
        const deadline = Date.now() + 20_000;
        while (!tcpFlow() && Date.now() < deadline) {
          for (let i = 0; i < 300; i++) burst.send(Buffer.alloc(64), udpPort, '127.0.0.1');
          await sleep(200);
          spawnSync('softflowctl', ['-c', ctl, 'expire-all']);
          await sleep(200);
        }
        const tcp = tcpFlow();
        expect(tcp, `no TCP flow from port ${httpPort}; softflowd said: ${stderr}`).toBeDefined();
        expect(tcp).toMatchObject({
          source: 'netflow',
          src: { address: '127.0.0.1', port: httpPort },
          dst: { address: '127.0.0.1' },
          protocol: 6,
          action: 'accept',
          attributes: expect.objectContaining({ 'netflow.version': Number(version), 'network.transport': 'tcp' }),
        });
        expect(tcp?.location).toMatch(/^udp:\/\/127\.0\.0\.1:\d+$/);
        // flow times are within the test's run, in epoch ms
        expect(Math.abs((tcp?.time ?? 0) - Date.now())).toBeLessThan(120_000);
        expect((host.events as NetworkFlowEvent[]).some((e) => e.protocol === 17 && e.dst.port === udpPort)).toBe(true);
        expect(host.deadLetters).toEqual([]);
      } finally {
        if (existsSync(ctl)) spawnSync('softflowctl', ['-c', ctl, 'shutdown']);
        await sleep(100);
        if (softflowd && softflowd.exitCode === null) softflowd.kill('SIGTERM');
        burst.close();
        sink.close();
        http.close();
        await receiver.shutdown();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
