import { accessSync, constants, readdirSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/**
 * A small HTTP server for the lab's hosts, run with `node -e`: it listens on
 * every `address:port` given, answers GET with `?size=N` bytes (default 512), and
 * reads and discards the body of any other method (PUT uploads, POSTs),
 * answering 201 with the byte count.
 */
export const HTTP_SERVER_SCRIPT = [
  "const http = require('node:http');",
  'const listen = process.argv.slice(1).map((a) => a.split(":"));',
  'let ready = 0;',
  'for (const [address, port] of listen) {',
  '  const server = http.createServer((req, res) => {',
  '    let bytes = 0;',
  "    req.on('data', (chunk) => { bytes += chunk.length; });",
  "    req.on('end', () => {",
  "      if (req.method === 'GET' || req.method === 'HEAD') {",
  "        const size = Number(new URL(req.url, 'http://lab').searchParams.get('size') ?? 512);",
  "        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size });",
  "        res.end(req.method === 'HEAD' ? undefined : Buffer.alloc(size, 120));",
  '      } else {',
  "        res.writeHead(201, { 'content-type': 'application/json' });",
  '        res.end(JSON.stringify({ received: bytes }));',
  '      }',
  '    });',
  '  });',
  '  server.keepAliveTimeout = 1000;',
  "  server.listen(Number(port), address, () => { if (++ready === listen.length) process.stdout.write('ready\\n'); });",
  '}',
].join('\n');

/** Absolute path of a program found on PATH, or the name itself when it is not found. */
export function which(program: string): string {
  if (program.includes('/')) return program;
  for (const dir of (process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(delimiter)) {
    const candidate = join(dir, program);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {}
  }
  return program;
}

/** Child processes of `pid` (by parent pid), with their argv. */
export function childrenOf(pid: number): { pid: number; argv: string[] }[] {
  const out: { pid: number; argv: string[] }[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== pid) continue;
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').filter(Boolean);
      if (argv.length > 0) out.push({ pid: Number(entry), argv });
    } catch {}
  }
  return out;
}
