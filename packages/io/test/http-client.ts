import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface ClientResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface ClientRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string | number>;
  body?: string | Buffer;
  /** Write the body in these pieces (chunked transfer when no content-length header is given). */
  chunks?: Buffer[];
  /** TLS client options. */
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  agent?: import('node:http').Agent | false;
}

/** A real HTTP(S) client request against a loopback server. */
export function send(baseUrl: string, req: ClientRequest = {}): Promise<ClientResponse> {
  const url = new URL(req.path ?? '/', baseUrl);
  const isTls = url.protocol === 'https:';
  const headers: Record<string, string | number> = { ...(req.headers ?? {}) };
  if (req.body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-length'))
    headers['Content-Length'] = Buffer.byteLength(req.body);
  return new Promise((resolve, reject) => {
    const options = {
      method: req.method ?? 'POST',
      hostname: url.hostname.replace(/^\[|\]$/g, ''),
      port: url.port,
      path: url.pathname + url.search,
      headers,
      ...(req.agent !== undefined ? { agent: req.agent } : {}),
      ...(isTls ? { ca: req.ca, cert: req.cert, key: req.key, servername: 'localhost' } : {}),
    };
    const r = (isTls ? httpsRequest : httpRequest)(options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    r.on('error', reject);
    if (req.chunks) {
      for (const c of req.chunks) r.write(c);
      r.end();
    } else {
      r.end(req.body);
    }
  });
}
