import { readFileSync } from 'node:fs';
import { recordField, type ShardedPipeline } from '@outflow/core';
import { FileSource, fileSourceSchema } from '@outflow/io';

/**
 * Routing keys computed on the main thread from raw records, without decoding:
 * the workload a record is about, so that all of a workload's state (egress
 * windows, first-seen destinations, exec payloads) lives in one shard.
 */

interface InventoryPod {
  namespace: string;
  pod: string;
  workloadName: string;
  ip: string;
}

function pods(inventoryPath: string): InventoryPod[] {
  return (JSON.parse(readFileSync(inventoryPath, 'utf8')) as { pods: InventoryPod[] }).pods;
}

const srcaddr = recordField(3);
const dstaddr = recordField(4);

/**
 * VPC flow lines (srcaddr is field 3, dstaddr field 4 in every layout that
 * starts like the default one): the workload of whichever end is a known pod
 * address, else the source address.
 */
export function vpcRouter(inventoryPath: string): (line: string) => string | undefined {
  const byIp = new Map<string, string>();
  for (const p of pods(inventoryPath)) byIp.set(p.ip, `${p.namespace}/${p.workloadName}`);
  return (line) => {
    const src = srcaddr(line) ?? '';
    const dst = dstaddr(line);
    return byIp.get(src) ?? (dst !== undefined ? byIp.get(dst) : undefined) ?? src;
  };
}

function jsonString(line: string, name: string, from: number): string | undefined {
  const at = line.indexOf(name, from);
  if (at < 0) return undefined;
  const start = at + name.length;
  const end = line.indexOf('"', start);
  return end < 0 ? undefined : line.slice(start, end);
}

/** Audit JSON lines: the workload of the pod the event is about, else its namespace, else the user. */
export function auditRouter(inventoryPath: string): (line: string) => string | undefined {
  const byPod = new Map<string, string>();
  for (const p of pods(inventoryPath)) byPod.set(`${p.namespace}/${p.pod}`, `${p.namespace}/${p.workloadName}`);
  return (line) => {
    const ref = line.indexOf('"objectRef":{');
    if (ref < 0) return jsonString(line, '"username":"', 0);
    const ns = jsonString(line, '"namespace":"', ref);
    if (ns === undefined) return jsonString(line, '"username":"', 0);
    const name = jsonString(line, '"name":"', ref);
    return (name !== undefined ? byPod.get(`${ns}/${name}`) : undefined) ?? ns;
  };
}

/** Read a file with io's FileSource and route its lines to the shards; resolves when every line was handed over. */
export async function feedFile(
  sharded: ShardedPipeline,
  format: string,
  path: string,
  options: { batchSize?: number; onLines?: (sent: number) => void } = {},
): Promise<number> {
  let n = 0;
  const source = new FileSource(fileSourceSchema.parse({ paths: [path], batchSize: options.batchSize ?? 2000 }), {
    framing: 'lines',
    onRecords: async (b) => {
      options.onLines?.(n);
      n += b.records.length;
      await sharded.sendRecords(format, b.records, {
        location: b.path,
        ...(b.firstLine !== undefined ? { firstLine: b.firstLine } : {}),
        ...(b.lineNumbers ? { lines: b.lineNumbers } : { firstLineNumber: b.firstLineNumber }),
      });
    },
    onError: () => {},
  });
  await source.start();
  await source.done;
  return n;
}
