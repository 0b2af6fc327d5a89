import { type Agent, request } from 'node:http';
import { type ComponentContext, MemoryDeadLetter, silentLogger, Telemetry } from '@outflow/core';

/** A component context for an exporter driven outside a pipeline: own telemetry, dead letters kept in memory, silent logger. */
export function context(name: string): ComponentContext {
  const telemetry = new Telemetry({ pipeline: 'bench' });
  const dead = new MemoryDeadLetter(100);
  return {
    name,
    type: name,
    kind: 'exporter',
    metrics: telemetry.forComponent(name),
    logger: silentLogger,
    deadLetter: (e) => dead.write({ time: '', pipeline: 'bench', component: name, ...e, raw: undefined }),
    clock: { now: () => Date.now() },
    scheduler: undefined as never,
    signal: new AbortController().signal,
  };
}

/** The bare baseline for HTTP exporters: POST `bodies` as JSON with keep-alive, `concurrency` at a time. Resolves with the bodies sent. */
export async function barePost(url: string, bodies: readonly string[], concurrency: number, agent: Agent): Promise<number> {
  let next = 0;
  const worker = async () => {
    while (next < bodies.length) {
      const body = bodies[next++] as string;
      await new Promise<void>((resolve, reject) => {
        const req = request(
          url,
          { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
          (res) => {
            res.on('error', reject);
            res.resume();
            res.on('end', resolve);
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return bodies.length;
}
