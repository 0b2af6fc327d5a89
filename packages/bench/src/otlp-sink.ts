/**
 * A loopback OTLP/HTTP JSON logs sink in a process of its own (as a collector
 * would be), forked by the `export` suite: counts log records and remembers
 * each record's delivery key, so the suite can check that none was lost and
 * none arrived twice. One request in 20 is decoded in full and checked; the
 * others are scanned for the keys (a JavaScript JSON.parse of every body would
 * make the sink, not the exporter, the bottleneck).
 *
 * Messages from the parent: `{ t: 'stats' }` → `{ t: 'stats', records, unique, requests, bytes }`;
 * `{ t: 'reset' }` forgets what was received.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

const DELIVERY_KEY = 'outflow.alert.delivery_key';
const KEY_MARK = `{"key":"${DELIVERY_KEY}","value":{"stringValue":"`;

interface Body {
  resourceLogs?: { scopeLogs?: { logRecords?: { attributes?: { key: string; value: { stringValue?: string } }[] }[] }[] }[];
}

if (process.send && process.argv[2] === '--otlp-sink') {
  let records = 0;
  let requests = 0;
  let bytes = 0;
  let keys = new Set<string>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests++;
      let raw = Buffer.concat(chunks);
      bytes += raw.length;
      try {
        if (req.headers['content-encoding'] === 'gzip') raw = gunzipSync(raw);
        const text = raw.toString('utf8');
        // Every 20th request is decoded in full (it must be well-formed OTLP JSON, each record carrying its key);
        // the others are scanned for the delivery keys, so that the sink keeps up as a collector would.
        if (requests % 20 === 1) {
          const body = JSON.parse(text) as Body;
          for (const rl of body.resourceLogs ?? [])
            for (const sl of rl.scopeLogs ?? [])
              for (const r of sl.logRecords ?? []) {
                records++;
                let key: string | undefined;
                for (const a of r.attributes ?? []) if (a.key === DELIVERY_KEY && a.value.stringValue) key = a.value.stringValue;
                if (key === undefined) throw new Error('log record without a delivery key');
                keys.add(key);
              }
        } else {
          for (let at = text.indexOf(KEY_MARK); at >= 0; at = text.indexOf(KEY_MARK, at)) {
            at += KEY_MARK.length;
            const end = text.indexOf('"', at);
            keys.add(text.slice(at, end));
            records++;
          }
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      } catch {
        res.writeHead(400, { 'content-type': 'application/json' }).end('{}');
      }
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => {
    process.send?.({ t: 'listening', port: (server.address() as AddressInfo).port });
  });
  process.on('message', (m: { t: string }) => {
    if (m.t === 'stats') process.send?.({ t: 'stats', records, unique: keys.size, requests, bytes });
    else if (m.t === 'reset') {
      records = 0;
      requests = 0;
      bytes = 0;
      keys = new Set();
    }
  });
  process.on('disconnect', () => process.exit(0));
}
