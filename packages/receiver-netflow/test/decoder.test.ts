import type { NetworkFlowEvent } from '@outflow/core';
import { describe, expect, it } from 'vitest';
import { NetflowDecoder, type NetflowDecoderOptions } from '../src/decoder.js';
import {
  encodeIpfix,
  encodeIpfixMessage,
  encodeV5,
  encodeV9,
  encodeV9Message,
  type FieldSpec,
  type FlowSpec,
  flowRecord,
  IPFIX_IPV4_FIELDS,
  type TemplateSpec,
  V9_IPV4_FIELDS,
} from '../src/encoder.js';
import { decodeDatagrams, OBSERVED } from './helpers.js';

const EXPORT = Date.UTC(2024, 0, 1, 12, 0, 0);
const T = EXPORT - 30_000;

const egress: FlowSpec = {
  src: '10.0.1.5',
  dst: '203.0.113.10',
  srcPort: 40000,
  dstPort: 443,
  protocol: 6,
  bytes: 123456,
  packets: 100,
  start: T - 5000,
  end: T,
  tcpFlags: 0x1b,
  tos: 0x20,
  inputInterface: 3,
  outputInterface: 7,
};
const ingress6: FlowSpec = {
  src: '2001:db8::1',
  dst: 'fd00::5',
  srcPort: 53,
  dstPort: 5353,
  protocol: 17,
  bytes: 512,
  packets: 2,
  start: T - 100,
  end: T - 50,
};

function decode(datagrams: Uint8Array | Uint8Array[], options: NetflowDecoderOptions = {}, exporter = '192.0.2.1') {
  const decoder = new NetflowDecoder(options);
  return { decoder, ...decodeDatagrams(decoder, Array.isArray(datagrams) ? datagrams : [datagrams], { exporter }) };
}

function only(events: NetworkFlowEvent[]): NetworkFlowEvent {
  expect(events).toHaveLength(1);
  return events[0] as NetworkFlowEvent;
}

describe('NetFlow v5', () => {
  it('decodes every field of a record, with times from the header uptime', () => {
    const d = encodeV5([{ ...egress, srcAs: 64500, dstAs: 64501, nextHop: '10.0.0.1' }], {
      exportTime: EXPORT + 250,
      sysUptime: 90_000_000,
      sequence: 77,
      engineType: 1,
      engineId: 2,
      samplingInterval: 100,
    });
    const e = only(decode(d).events);
    expect(e).toMatchObject({
      kind: 'network_flow',
      source: 'netflow',
      sourceId: '192.0.2.1/258/77/0',
      location: 'udp://192.0.2.1:40000',
      observedTime: OBSERVED,
      src: { address: '10.0.1.5', port: 40000 },
      dst: { address: '203.0.113.10', port: 443 },
      protocol: 6,
      bytes: 123456,
      packets: 100,
      start: T - 5000,
      end: T,
      time: T,
      direction: 'egress',
      action: 'accept',
    });
    expect(e.attributes).toEqual({
      'netflow.version': 5,
      'network.type': 'ipv4',
      'network.transport': 'tcp',
      'netflow.tcp_flags': 0x1b,
      'netflow.tos': 0x20,
      'netflow.input_interface': 3,
      'netflow.output_interface': 7,
      'netflow.sampling_interval': 100,
      'netflow.src_as': 64500,
      'netflow.dst_as': 64501,
      'netflow.next_hop': '10.0.0.1',
    });
  });

  it('handles uptime wrap-around: a flow that started before the 32-bit uptime counter wrapped', () => {
    // uptime 1 s at export: the counter wrapped 1 s ago; the flow started 4 s ago (uptime 2^32 - 3000)
    const d = encodeV5([{ ...egress, start: EXPORT - 4000, end: EXPORT - 500 }], { exportTime: EXPORT, sysUptime: 1000 });
    const e = only(decode(d).events);
    expect(e.start).toBe(EXPORT - 4000);
    expect(e.end).toBe(EXPORT - 500);
  });

  it('derives direction from internal ranges when the format has no direction field', () => {
    const flows: FlowSpec[] = [
      { ...egress },
      { ...egress, src: '198.51.100.1', dst: '192.168.1.1' },
      { ...egress, src: '10.0.0.1', dst: '172.16.0.9' },
      { ...egress, src: '198.51.100.1', dst: '203.0.113.1' },
    ];
    const { events } = decode(encodeV5(flows));
    expect(events.map((e) => e.direction)).toEqual(['egress', 'ingress', 'internal', 'unknown']);
    const custom = decode(encodeV5(flows), { internalCidrs: ['198.51.100.0/24'] }).events;
    expect(custom.map((e) => e.direction)).toEqual(['unknown', 'egress', 'unknown', 'egress']);
  });
});

describe('NetFlow v9', () => {
  it('decodes IPv4 and IPv6 records with templates in the same datagram', () => {
    const d = encodeV9([egress, ingress6], { exportTime: EXPORT, sysUptime: 5_000_000, sequence: 9, sourceId: 3 });
    const { events, errors, summaries } = decode(d);
    expect(errors).toEqual([]);
    expect(summaries[0]).toMatchObject({ templates: 2, events: 2 });
    const [a, b] = events as [NetworkFlowEvent, NetworkFlowEvent];
    expect(a).toMatchObject({
      sourceId: '192.0.2.1/3/9/0.0',
      src: { address: '10.0.1.5', port: 40000 },
      dst: { address: '203.0.113.10', port: 443 },
      bytes: 123456,
      packets: 100,
      start: T - 5000,
      end: T,
      direction: 'egress',
    });
    expect(b).toMatchObject({
      sourceId: '192.0.2.1/3/9/1.0',
      src: { address: '2001:db8::1', port: 53 },
      dst: { address: 'fd00::5', port: 5353 },
      protocol: 17,
      bytes: 512,
      start: T - 100,
      end: T - 50,
      direction: 'ingress',
      attributes: expect.objectContaining({ 'network.type': 'ipv6', 'network.transport': 'udp' }),
    });
  });

  it('takes direction from flowDirection (IE 61) when told to, and action from forwardingStatus (IE 89)', () => {
    const fields: FieldSpec[] = [...V9_IPV4_FIELDS, { id: 61, length: 1 }, { id: 89, length: 1 }];
    const flows: FlowSpec[] = [
      { ...egress, direction: 'ingress', forwardingStatus: 0x80 },
      { ...egress, direction: 'egress', forwardingStatus: 0x42 },
      { ...egress, forwardingStatus: 0x00 },
    ];
    const d = encodeV9(flows, { fields: { ipv4: fields } });
    const { events } = decode(d, { useFlowDirection: true });
    expect(events.map((e) => [e.direction, e.action])).toEqual([
      ['ingress', 'reject'],
      ['egress', 'accept'],
      ['ingress', 'unknown'],
    ]);
    // by default direction comes from the addresses (internalCidrs): exporters disagree on what IE 61 means
    const derived = decode(d).events;
    expect(derived.map((e) => e.direction)).toEqual(['egress', 'egress', 'egress']);
  });

  it('uses total counts (IE 85/86) when delta counts are absent', () => {
    const fields: FieldSpec[] = [
      { id: 8, length: 4 },
      { id: 12, length: 4 },
      { id: 85, length: 8 },
      { id: 86, length: 8 },
    ];
    const e = only(decode(encodeV9([{ ...egress, bytes: 2 ** 40, packets: 7 }], { fields: { ipv4: fields } })).events);
    expect(e.bytes).toBe(2 ** 40);
    expect(e.packets).toBe(7);
    // no time fields: the event time is the export time
    expect(e.time).toBe(Date.UTC(2024, 0, 1));
    expect(e.start).toBeUndefined();
  });

  it('reads sampling from options data (exporter-wide and per sampler id) and scales only when asked', () => {
    const optionsTemplate: TemplateSpec = {
      id: 300,
      scopeCount: 1,
      fields: [
        { id: 1, length: 4 }, // scope: system
        { id: 34, length: 4 },
        { id: 35, length: 1 },
      ],
    };
    const samplerTemplate: TemplateSpec = {
      id: 301,
      scopeCount: 1,
      fields: [
        { id: 1, length: 4 },
        { id: 48, length: 1 },
        { id: 50, length: 4 },
      ],
    };
    const flowFields: FieldSpec[] = [...V9_IPV4_FIELDS, { id: 48, length: 1 }];
    const flowTemplate: TemplateSpec = { id: 256, fields: flowFields };
    const base = { exportMs: Date.UTC(2024, 0, 1), sysUptime: 3_600_000, systemInit: 0 };
    const d = encodeV9Message({}, [
      { type: 'options_templates', templates: [optionsTemplate, samplerTemplate] },
      { type: 'data', template: optionsTemplate, records: [[0, 64, 2]] },
      { type: 'data', template: samplerTemplate, records: [[0, 5, 1000]] },
      { type: 'templates', templates: [flowTemplate] },
      {
        type: 'data',
        template: flowTemplate,
        records: [
          flowRecord({ ...egress, samplerId: 5, bytes: 10, packets: 1 }, flowTemplate, base),
          flowRecord({ ...egress, samplerId: 9, bytes: 10, packets: 1 }, flowTemplate, base),
        ],
      },
    ]);
    const plain = decode(d);
    expect(plain.summaries[0]).toMatchObject({ optionsRecords: 2, events: 2 });
    expect(plain.events.map((e) => [e.attributes?.['netflow.sampling_interval'], e.bytes])).toEqual([
      [1000, 10],
      [64, 10],
    ]);
    const scaled = decode(d, { applySampling: true }).events;
    expect(scaled.map((e) => [e.bytes, e.packets])).toEqual([
      [10_000, 1000],
      [640, 64],
    ]);
  });

  it('handles padding inside and after flowsets', () => {
    const d = encodeV9([egress]);
    // the 35-byte record is padded to a 4-byte boundary by the encoder; add zero bytes after the last set too
    const padded = new Uint8Array([...d, 0, 0]);
    const { events, errors } = decode(padded);
    expect(errors).toEqual([]);
    expect(events).toHaveLength(1);
  });

  it('drops (and counts) records of a template without addresses instead of inventing them', () => {
    const fields: FieldSpec[] = [
      { id: 1, length: 4 },
      { id: 2, length: 4 },
    ];
    const { events, dropped, errors } = decode(encodeV9([egress], { fields: { ipv4: fields } }));
    expect(events).toEqual([]);
    expect(errors).toEqual([]);
    expect(dropped).toEqual({ no_address: 1 });
  });
});

describe('IPFIX', () => {
  it('decodes millisecond times, 64-bit counters, 2-byte TCP flags and IPv6', () => {
    const d = encodeIpfix([egress, ingress6], { exportTime: EXPORT, sequence: 1000, domain: 42 });
    const { events, errors } = decode(d);
    expect(errors).toEqual([]);
    const [a, b] = events as [NetworkFlowEvent, NetworkFlowEvent];
    expect(a).toMatchObject({ sourceId: '192.0.2.1/42/1000/0.0', start: T - 5000, end: T, bytes: 123456, direction: 'egress' });
    expect(a.attributes?.['netflow.tcp_flags']).toBe(0x1b);
    expect(b).toMatchObject({ src: { address: '2001:db8::1' }, start: T - 100, end: T - 50 });
  });

  it.each([
    ['seconds (150/151)', 150, 151, 4, 1000],
    ['microseconds (154/155)', 154, 155, 8, 1],
    ['nanoseconds (156/157)', 156, 157, 8, 1],
    ['delta microseconds (158/159)', 158, 159, 4, 1],
  ])('reads flow times in %s', (_name, startId, endId, length, resolution) => {
    const fields: FieldSpec[] = [
      { id: 8, length: 4 },
      { id: 12, length: 4 },
      { id: startId, length },
      { id: endId, length },
    ];
    const e = only(decode(encodeIpfix([egress], { exportTime: EXPORT, fields: { ipv4: fields } })).events);
    expect(e.start).toBe(Math.floor((T - 5000) / resolution) * resolution);
    expect(e.end).toBe(Math.floor(T / resolution) * resolution);
  });

  it('converts flowStart/EndSysUpTime with systemInitTimeMilliseconds from the record', () => {
    const boot = EXPORT - 10 * 86_400_000;
    const fields: FieldSpec[] = [
      { id: 8, length: 4 },
      { id: 12, length: 4 },
      { id: 22, length: 4 },
      { id: 21, length: 4 },
      { id: 160, length: 8 },
    ];
    const e = only(decode(encodeIpfix([egress], { exportTime: EXPORT, systemInitTime: boot, fields: { ipv4: fields } })).events);
    expect(e.start).toBe(T - 5000);
    expect(e.end).toBe(T);
  });

  it('converts sysUpTime with systemInitTimeMilliseconds from options data, also past 2^32 ms of uptime', () => {
    const boot = EXPORT - 60 * 86_400_000; // 60 days: the uptime counter wrapped once
    const options: TemplateSpec = {
      id: 500,
      scopeCount: 1,
      fields: [
        { id: 143, length: 4 },
        { id: 160, length: 8 },
        { id: 305, length: 4 },
        { id: 306, length: 4 },
      ],
    };
    const flow: TemplateSpec = {
      id: 501,
      fields: [
        { id: 8, length: 4 },
        { id: 12, length: 4 },
        { id: 22, length: 4 },
        { id: 21, length: 4 },
        { id: 1, length: 8 },
      ],
    };
    const base = { exportMs: EXPORT, sysUptime: -1, systemInit: boot };
    const d = encodeIpfixMessage({ exportTime: EXPORT }, [
      { type: 'options_templates', templates: [options] },
      { type: 'data', template: options, records: [[1, boot, 1, 9]] },
      { type: 'templates', templates: [flow] },
      { type: 'data', template: flow, records: [flowRecord(egress, flow, base)] },
    ]);
    const e = only(decode(d).events);
    expect(e.start).toBe(T - 5000);
    expect(e.end).toBe(T);
    // samplingPacketInterval 1, samplingPacketSpace 9: one packet in 10
    expect(e.attributes?.['netflow.sampling_interval']).toBe(10);
  });

  it('skips enterprise and variable-length fields by their length, and reads RFC 5103 reverse counters', () => {
    const long = 'x'.repeat(300); // longer than 254: three-byte length prefix
    const fields: FieldSpec[] = [
      { id: 82, length: 65535 }, // interfaceName, variable length
      { id: 8, length: 4 },
      { id: 1, length: 8, pen: 9 }, // an 8-byte Cisco element
      { id: 12, length: 4 },
      { id: 77, length: 65535, pen: 2636 }, // a variable-length Juniper element
      { id: 7, length: 2 },
      { id: 11, length: 2 },
      { id: 1, length: 8 },
      { id: 1, length: 8, pen: 29305 }, // reverseOctetDeltaCount
      { id: 2, length: 4, pen: 29305 }, // reversePacketDeltaCount
    ];
    const flows: FlowSpec[] = [
      { ...egress, reverseBytes: 999, reversePackets: 9, values: { '82': 'eth0', '2636.77': long, '9.1': 0xffffffffffffn } },
      { ...egress, srcPort: 1, reverseBytes: 5, reversePackets: 1, values: { '82': long, '2636.77': '' } },
    ];
    const { events, errors } = decode(encodeIpfix(flows, { fields: { ipv4: fields } }), { includeRaw: true });
    expect(errors).toEqual([]);
    expect(events.map((e) => [e.src.port, e.dst.port, e.bytes, e.reverseBytes, e.reversePackets])).toEqual([
      [40000, 443, 123456, 999, 9],
      [1, 443, 123456, 5, 1],
    ]);
    expect(events[0]?.raw).toMatchObject({
      interfaceName: Buffer.from('eth0').toString('hex'),
      '9.1': 0xffffffffffff,
      reverseOctetDeltaCount: 999,
      sourceIPv4Address: '10.0.1.5',
    });
  });

  it('reads initiator/responder counters (Cisco NSEL style) as forward and reverse', () => {
    const fields: FieldSpec[] = [
      { id: 8, length: 4 },
      { id: 12, length: 4 },
      { id: 231, length: 8 },
      { id: 232, length: 8 },
      { id: 298, length: 8 },
      { id: 299, length: 8 },
    ];
    const e = only(decode(encodeIpfix([{ ...egress, reverseBytes: 77, reversePackets: 3 }], { fields: { ipv4: fields } })).events);
    expect([e.bytes, e.packets, e.reverseBytes, e.reversePackets]).toEqual([123456, 100, 77, 3]);
  });
});

describe('templates: per exporter and domain, withdrawal, refresh, caps, TTL', () => {
  const v9 = (flows: FlowSpec[], options: Parameters<typeof encodeV9>[1] = {}) => encodeV9(flows, { exportTime: EXPORT, ...options });

  it('keeps templates per exporter: another exporter cannot use them', () => {
    const decoder = new NetflowDecoder();
    const a = decodeDatagrams(decoder, [v9([egress])], { exporter: '192.0.2.1' });
    const b = decodeDatagrams(decoder, [v9([egress], { include: 'data' })], { exporter: '192.0.2.2' });
    expect(a.events).toHaveLength(1);
    expect(b.events).toHaveLength(0);
    expect(b.summaries[0]?.buffered).toBe(1);
  });

  it('keeps templates per observation domain: the same id in two domains decodes with its own layout', () => {
    const short: FieldSpec[] = [
      { id: 8, length: 4 },
      { id: 12, length: 4 },
    ];
    const decoder = new NetflowDecoder();
    const out = decodeDatagrams(decoder, [
      v9([], { sourceId: 1, include: 'templates' }),
      v9([], { sourceId: 2, include: 'templates', fields: { ipv4: short } }),
      v9([egress], { sourceId: 2, include: 'data', fields: { ipv4: short } }),
      v9([egress], { sourceId: 1, include: 'data' }),
    ]);
    expect(out.errors).toEqual([]);
    expect(out.events.map((e) => [e.sourceId?.split('/')[1], e.src.port, e.bytes])).toEqual([
      ['2', undefined, undefined],
      ['1', 40000, 123456],
    ]);
    expect(decoder.templateCount).toBe(2);
  });

  it('withdraws one IPFIX template, or all of them, and counts refreshes and replacements', () => {
    const decoder = new NetflowDecoder();
    const ipfix = (sets: Parameters<typeof encodeIpfixMessage>[1]) => encodeIpfixMessage({ exportTime: EXPORT }, sets);
    const t256: TemplateSpec = { id: 256, fields: IPFIX_IPV4_FIELDS };
    const t257: TemplateSpec = { id: 257, fields: IPFIX_IPV4_FIELDS.slice(0, 4) };
    const base = { exportMs: EXPORT, sysUptime: -1, systemInit: 0 };
    const data = (t: TemplateSpec) => ({ type: 'data' as const, template: t, records: [flowRecord(egress, t, base)] });
    const out = decodeDatagrams(decoder, [
      ipfix([{ type: 'templates', templates: [t256, t257] }, data(t256), data(t257)]),
      ipfix([{ type: 'withdraw', templateIds: [256] }, data(t256), data(t257)]),
      ipfix([{ type: 'templates', templates: [t256] }]), // brings the held set back
      ipfix([{ type: 'withdraw', templateIds: [2] }, data(t256), data(t257)]),
      ipfix([{ type: 'templates', templates: [t256, t257] }]), // both back: the held sets decode
      ipfix([{ type: 'templates', templates: [{ id: 257, fields: IPFIX_IPV4_FIELDS }] }]), // replacement
    ]);
    expect(out.errors).toEqual([]);
    expect(out.summaries.map((s) => [s.events, s.withdrawals, s.buffered, s.replayed])).toEqual([
      [2, 0, 0, 0],
      [1, 1, 1, 0],
      [1, 0, 0, 1],
      [0, 1, 2, 0],
      [2, 0, 0, 2],
      [0, 0, 0, 0],
    ]);
    expect(decoder.stats.templatesReplaced).toBe(1);
  });

  it('caps templates per exporter, evicting the least recently used', () => {
    const decoder = new NetflowDecoder({ maxTemplatesPerExporter: 2 });
    const out = decodeDatagrams(decoder, [
      v9([], { include: 'templates', templateIds: { ipv4: 300 } }),
      v9([], { include: 'templates', templateIds: { ipv4: 301 } }),
      v9([egress], { include: 'data', templateIds: { ipv4: 300 } }), // touches 300
      v9([], { include: 'templates', templateIds: { ipv4: 302 } }), // evicts 301
      v9([egress], { include: 'data', templateIds: { ipv4: 301 } }),
      v9([egress], { include: 'data', templateIds: { ipv4: 300 } }),
    ]);
    expect(out.summaries.map((s) => [s.events, s.buffered])).toEqual([
      [0, 0],
      [0, 0],
      [1, 0],
      [0, 0],
      [0, 1],
      [1, 0],
    ]);
    expect(decoder.templateCount).toBe(2);
  });

  it('caps exporters: the least recently heard one is forgotten with its templates', () => {
    const decoder = new NetflowDecoder({ maxExporters: 2 });
    decodeDatagrams(decoder, [v9([], { include: 'templates' })], { exporter: '192.0.2.1' });
    decodeDatagrams(decoder, [v9([], { include: 'templates' })], { exporter: '192.0.2.2' });
    decodeDatagrams(decoder, [v9([], { include: 'templates' })], { exporter: '192.0.2.3' });
    expect(decoder.exporterCount).toBe(2);
    expect(decodeDatagrams(decoder, [v9([egress], { include: 'data' })], { exporter: '192.0.2.1' }).summaries[0]?.buffered).toBe(1);
    expect(decodeDatagrams(decoder, [v9([egress], { include: 'data' })], { exporter: '192.0.2.3' }).events).toHaveLength(1);
  });

  it('expires templates neither refreshed nor used within their TTL', () => {
    const decoder = new NetflowDecoder({ templateTtlMs: 60_000 });
    const sink = { event: () => {}, error: () => {} };
    decoder.decode(v9([], { include: 'templates' }), '192.0.2.1', sink, { observedTime: 1_000_000 });
    expect(decoder.decode(v9([egress], { include: 'data' }), '192.0.2.1', sink, { observedTime: 1_050_000 }).events).toBe(1);
    expect(decoder.decode(v9([egress], { include: 'data' }), '192.0.2.1', sink, { observedTime: 1_111_000 }).buffered).toBe(1);
    expect(decoder.templateCount).toBe(0);
  });
});

describe('data sets that arrive before their template', () => {
  const data = encodeV9([egress, ingress6], { exportTime: EXPORT, include: 'data' });
  const templates = encodeV9([egress, ingress6], { exportTime: EXPORT, include: 'templates' });

  it('are held and decoded, with their own ids and observed time, once the template arrives', () => {
    const out = decodeDatagrams(new NetflowDecoder(), [data, templates]);
    expect(out.summaries[0]).toMatchObject({ events: 0, buffered: 2 });
    expect(out.summaries[1]).toMatchObject({ events: 2, replayed: 2, templates: 2 });
    expect(out.events.map((e) => [e.sourceId, e.observedTime])).toEqual([
      ['127.0.0.1/0/0/0.0', OBSERVED],
      ['127.0.0.1/0/0/1.0', OBSERVED],
    ]);
  });

  it('are dropped after the TTL with reason template_timeout, dead-lettered with their bytes', () => {
    const decoder = new NetflowDecoder({ pendingTtlMs: 5_000 });
    const out = decodeDatagrams(decoder, [data], { expireAfterMs: 5_000 });
    expect(out.events).toEqual([]);
    expect(out.dropped).toEqual({ template_timeout: 2 });
    expect(out.errors.map((e) => e.reason)).toEqual(['template_timeout', 'template_timeout']);
    const firstSet = ((data[22] as number) << 8) | (data[23] as number);
    expect(Buffer.from(out.errors[0]?.raw ?? '', 'base64')).toEqual(Buffer.from(data.subarray(20, 20 + firstSet)));
    expect(decoder.pendingSets).toBe(0);
    // the template arriving later decodes nothing: the data is gone
    expect(decodeDatagrams(decoder, [templates]).events).toEqual([]);
  });

  it('are dropped oldest first with reason buffer_full when the byte budget is spent', () => {
    const decoder = new NetflowDecoder({ pendingMaxBytes: 100 });
    const out = decodeDatagrams(decoder, [data, data]);
    // each datagram holds a 40-byte and a 64-byte set: each new set pushes older ones out
    expect(out.dropped.buffer_full).toBe(3);
    expect(decoder.pendingBytes).toBeLessThanOrEqual(100);
    expect(decoder.pendingSets).toBe(1);
    expect(out.errors.every((e) => e.reason === 'buffer_full')).toBe(true);
  });

  it('are dropped with reason buffer_full when too many keys wait', () => {
    const decoder = new NetflowDecoder({ pendingMaxKeys: 1 });
    const out = decodeDatagrams(decoder, [data]);
    expect(out.dropped).toEqual({ buffer_full: 1 });
    expect(decoder.pendingSets).toBe(1);
  });

  it('are reported with reason shutdown by flush()', () => {
    const decoder = new NetflowDecoder();
    decodeDatagrams(decoder, [data]);
    const reasons: string[] = [];
    decoder.flush({ event: () => {}, error: (e) => reasons.push(e.reason) });
    expect(reasons).toEqual(['shutdown', 'shutdown']);
    expect(decoder.pendingBytes).toBe(0);
  });
});
