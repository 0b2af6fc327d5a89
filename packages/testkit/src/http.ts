import { execFileSync } from 'node:child_process';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** An HTTP response as `post` reads it. */
export interface HttpReply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** POST `body` to a loopback URL with node's own client (https with a pinned CA when given). */
export function post(
  url: string,
  body: string | Uint8Array,
  headers: Record<string, string> = {},
  options: { ca?: string | Buffer; method?: string } = {},
): Promise<HttpReply> {
  const u = new URL(url);
  const send = u.protocol === 'https:' ? httpsRequest : httpRequest;
  const payload = Buffer.from(body);
  return new Promise((resolve, reject) => {
    const req = send(
      u,
      { method: options.method ?? 'POST', headers: { 'Content-Length': String(payload.length), ...headers }, ...(options.ca ? { ca: options.ca } : {}) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/**
 * Write a self-signed EC certificate for `localhost` and 127.0.0.1, valid one
 * day, to `certFile` with its key in `keyFile`, with the `openssl` command.
 */
export function selfSignedCert(certFile: string, keyFile: string, commonName = 'localhost'): void {
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '1',
      '-subj',
      `/CN=${commonName}`,
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
}
