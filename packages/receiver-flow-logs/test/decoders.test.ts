import { type DecodeError, decodeAll, type NetworkFlowEvent, type OutflowEvent } from '@outflow/core';
import { describe, expect, it } from 'vitest';
import { AzureFlowDecoder, formats, GcpFlowDecoder, HubbleDecoder, VpcFlowDecoder, vpcLayout } from '../src/index.js';
import { decodeFile, fixture, OBSERVED, skipRecorder } from './helpers.js';

const flows = (events: OutflowEvent[]) => events as NetworkFlowEvent[];

const V2 = '2 123456789010 eni-1235b8ca123456789 10.0.1.5 198.51.100.7 49761 443 6 20 4249 1709287200 1709287260 ACCEPT OK';

describe('aws_vpc_flow decoder', () => {
  it('maps the default format: times in ms, ports, counts, action, direction, interface and account', () => {
    const { events, errors } = decodeAll(new VpcFlowDecoder(), V2, { observedTime: OBSERVED, location: '/logs/a.log', line: 7 });
    expect(errors).toEqual([]);
    const [e] = flows(events);
    expect(e).toMatchObject({
      kind: 'network_flow',
      source: 'aws_vpc_flow',
      time: 1709287260000,
      start: 1709287200000,
      end: 1709287260000,
      observedTime: OBSERVED,
      location: '/logs/a.log:7',
      src: { address: '10.0.1.5', port: 49761 },
      dst: { address: '198.51.100.7', port: 443 },
      protocol: 6,
      packets: 20,
      bytes: 4249,
      action: 'accept',
      direction: 'egress',
      account: '123456789010',
      interfaceId: 'eni-1235b8ca123456789',
      raw: V2,
    });
    expect(e?.sourceId).toMatch(/^[0-9a-f]{16}$/);
  });

  it('skips the header line when it is the file first line, and uses its field order', () => {
    const header = 'srcaddr dstaddr bytes end version';
    const rec = skipRecorder();
    const d = new VpcFlowDecoder({ onSkip: rec.onSkip });
    const events: OutflowEvent[] = [];
    const errors: DecodeError[] = [];
    const sink = { event: (e: OutflowEvent) => events.push(e), error: (e: DecodeError) => errors.push(e) };
    d.decode(header, sink, { observedTime: 0, line: 1, firstLine: header });
    d.decode('10.0.0.1 203.0.113.1 777 1709287260 5', sink, { observedTime: 0, line: 2, firstLine: header });
    expect(errors).toEqual([]);
    expect(events).toHaveLength(1);
    expect(flows(events)[0]).toMatchObject({ src: { address: '10.0.0.1' }, dst: { address: '203.0.113.1' }, bytes: 777, time: 1709287260000 });
    expect(rec.skipped).toEqual({});
  });

  it('computes the layout once per distinct header (cache keyed by the header string)', () => {
    const d = new VpcFlowDecoder();
    const header = 'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status flow-direction';
    const a = d.layoutOf(header);
    const b = d.layoutOf(`${header} `.trim());
    expect(a).not.toBeNull();
    expect(b).toBe(a);
    expect(a?.flowDirection).toBe(14);
    expect(d.layoutOf('2 123456789010 eni-1 10.0.0.1')).toBeNull();
  });

  it('assumes the default v2 order without a header; a header seen mid-stream (no firstLine) applies to later lines', () => {
    const d = new VpcFlowDecoder();
    const text = ['srcaddr dstaddr end', '10.0.0.1 198.51.100.1 1709287260'].join('\n');
    const { events, errors } = decodeAll(d, text, { observedTime: 0 });
    expect(errors).toEqual([]);
    expect(flows(events)[0]?.dst.address).toBe('198.51.100.1');
    const stream = new VpcFlowDecoder();
    const got: OutflowEvent[] = [];
    const sink = { event: (e: OutflowEvent) => got.push(e), error: () => {} };
    stream.decode('srcaddr dstaddr end', sink, { observedTime: 0 });
    stream.decode('10.0.0.1 198.51.100.1 1709287260', sink, { observedTime: 0 });
    expect(got).toHaveLength(1);
  });

  it('a whole document (document framing, line 1) uses its own first line as header, without affecting later inputs', () => {
    const d = new VpcFlowDecoder();
    const doc = decodeAll(d, 'srcaddr dstaddr end\n10.0.0.1 198.51.100.1 1709287260', { observedTime: 0, line: 1 });
    expect(doc.errors).toEqual([]);
    expect(flows(doc.events)[0]?.dst.address).toBe('198.51.100.1');
    const next = decodeAll(d, V2, { observedTime: 0 });
    expect(next.errors).toEqual([]);
    expect(flows(next.events)[0]?.bytes).toBe(4249);
  });

  it('accepts a custom format for headerless input (CloudWatch Logs of a custom format)', () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: AWS flow log format strings name fields as ${field}
    const d = new VpcFlowDecoder({ format: '${version} ${vpc-id} ${srcaddr} ${dstaddr} ${end} ${flow-direction}' });
    const { events, errors } = decodeAll(d, '5 vpc-1 10.0.0.1 10.0.0.2 1709287260 ingress', { observedTime: 0 });
    expect(errors).toEqual([]);
    expect(flows(events)[0]).toMatchObject({ vpcId: 'vpc-1', direction: 'ingress' });
    expect(() => new VpcFlowDecoder({ format: 'hello world' })).toThrow(RangeError);
  });

  it('uses pkt-srcaddr/pkt-dstaddr as the endpoints when they differ, keeping interface addresses in attributes', () => {
    const header = 'srcaddr dstaddr pkt-srcaddr pkt-dstaddr end flow-direction';
    const line = '10.0.0.220 203.0.113.5 10.0.1.5 203.0.113.5 1709287260 egress';
    const { events } = decodeAll(new VpcFlowDecoder(), `${header}\n${line}`, { observedTime: 0 });
    const [e] = flows(events);
    expect(e?.src.address).toBe('10.0.1.5');
    expect(e?.dst.address).toBe('203.0.113.5');
    expect(e?.attributes).toEqual({ 'aws.vpc.flow.srcaddr': '10.0.0.220' });
  });

  it('flow-direction wins over address-derived direction', () => {
    const header = 'srcaddr dstaddr end flow-direction';
    const { events } = decodeAll(new VpcFlowDecoder(), `${header}\n10.0.0.1 10.0.0.2 1709287260 egress\n10.0.0.1 198.51.100.1 1709287260 -`, {
      observedTime: 0,
    });
    expect(flows(events).map((e) => e.direction)).toEqual(['egress', 'egress']);
  });

  it('derives direction from internalCidrs', () => {
    const text = fixture('aws_vpc/panther-derived.log');
    const dflt = decodeFile(new VpcFlowDecoder(), 'lines', text, 'p');
    const strict = decodeFile(new VpcFlowDecoder({ internalCidrs: ['10.0.0.0/8'] }), 'lines', text, 'p');
    const to100 = (r: { events: OutflowEvent[] }) =>
      flows(r.events)
        .filter((e) => e.dst.address === '100.100.100.100')
        .map((e) => e.direction);
    // 100.100.100.100 is RFC 6598 shared address space: internal by default, public when only 10/8 is internal
    expect(to100(dflt)).toEqual(['internal', 'internal']);
    expect(to100(strict)).toEqual(['egress', 'egress']);
  });

  it('counts NODATA and SKIPDATA through onSkip, without events or errors', () => {
    const rec = skipRecorder();
    const { events, errors } = decodeAll(
      new VpcFlowDecoder({ onSkip: rec.onSkip }),
      '2 123456789010 eni-1 - - - - - - - 1709287200 1709287260 - NODATA\n2 123456789010 eni-1 - - - - - - - 1709287200 1709287260 - SKIPDATA',
      { observedTime: 0 },
    );
    expect(events).toEqual([]);
    expect(errors).toEqual([]);
    expect(rec.skipped).toEqual({ nodata: 1, skipdata: 1 });
  });

  it('ids are deterministic, and differ by location, line number and content', () => {
    const id = (line: string, location: string, n: number) =>
      flows(decodeAll(new VpcFlowDecoder(), line, { observedTime: 0, location, line: n }).events)[0]?.sourceId;
    const a = id(V2, '/a', 1);
    expect(id(V2, '/a', 1)).toBe(a);
    expect(id(V2, '/b', 1)).not.toBe(a);
    expect(id(V2, '/a', 2)).not.toBe(a);
    expect(id(V2.replace('4249', '4250'), '/a', 1)).not.toBe(a);
    expect(id(V2.replace('49761', '49762'), '/a', 1)).not.toBe(a);
  });

  it('reports bad lines with their raw text and their line within the input, and goes on', () => {
    const text = ['garbage', V2, `${V2} extra`].join('\n');
    const { events, errors } = decodeAll(new VpcFlowDecoder(), text, { observedTime: 0, location: '/x', line: 10 });
    expect(events).toHaveLength(1);
    // DecodeError.location is relative to the input: undefined for the input's own line, else the line number
    expect(errors.map((e) => [e.reason, e.location, e.raw])).toEqual([
      ['field_count', undefined, 'garbage'],
      ['field_count', '12', `${V2} extra`],
    ]);
  });

  it('vpcLayout rejects lines that are not headers', () => {
    expect(vpcLayout('version account-id srcaddr dstaddr')).toBeDefined();
    expect(vpcLayout('vpc-0abc subnet-1 10.0.0.1')).toBeUndefined();
    expect(vpcLayout('version account-id interface-id')).toBeUndefined();
    expect(vpcLayout('hello world srcaddr dstaddr')).toBeDefined();
  });
});

describe('gcp_vpc_flow decoder', () => {
  it('puts the GKE pod identity on the right endpoint and on the event for the reporter side', () => {
    const r = decodeFile(new GcpFlowDecoder(), 'lines', fixture('gcp/vpc_flows.jsonl'), 'g');
    const [egress, ingress] = flows(r.events);
    expect(egress?.src.workload).toMatchObject({
      cluster: 'prod-gke',
      namespace: 'billing',
      pod: 'billing-api-7c9d8f6b5-x2k4q',
      workloadKind: 'Deployment',
      workloadName: 'billing-api',
    });
    expect(egress?.workload).toBe(egress?.src.workload);
    expect(egress?.direction).toBe('egress');
    expect(egress?.bytes).toBe(734003200);
    expect(ingress?.dst.workload?.workloadKind).toBe('StatefulSet');
    expect(ingress?.workload).toBe(ingress?.dst.workload);
    expect(ingress?.direction).toBe('ingress');
    expect(egress?.sourceId).toBe('1k2fmwpf1ajz4');
  });
  it('reads a pretty-printed array given as one document', () => {
    const r = decodeAll(new GcpFlowDecoder(), fixture('gcp/gcloud-read.json'), { observedTime: 0 });
    expect(r.errors).toEqual([]);
    expect(r.events).toHaveLength(2);
  });
});

describe('azure_flow decoder', () => {
  it('gives both directions of bytes and packets (v2 and VNet tuples)', () => {
    const v2 = flows(decodeAll(new AzureFlowDecoder(), fixture('azure/nsg-v2.json'), { observedTime: 0 }).events);
    const end = v2.find((e) => e.raw === '1709287260,10.5.16.4,198.51.100.7,51000,443,T,O,A,E,35000,52428800,18000,1200000');
    expect(end).toMatchObject({
      bytes: 52428800,
      packets: 35000,
      reverseBytes: 1200000,
      reversePackets: 18000,
      time: 1709287260000,
      direction: 'egress',
      action: 'accept',
    });
    const vnet = flows(decodeAll(new AzureFlowDecoder(), fixture('azure/vnet.json'), { observedTime: 0 }).events);
    expect(vnet[1]).toMatchObject({
      time: 1709287312000,
      bytes: 104857600,
      reverseBytes: 2400000,
      vpcId: 'myVNet',
      account: '00000000-0000-0000-0000-000000000000',
    });
    expect(vnet[2]).toMatchObject({ action: 'reject', direction: 'ingress' });
  });
  it('ids differ per tuple and do not depend on the file location', () => {
    const a = flows(decodeAll(new AzureFlowDecoder(), fixture('azure/vnet.json'), { observedTime: 0, location: '/one' }).events);
    const b = flows(decodeAll(new AzureFlowDecoder(), fixture('azure/vnet.json'), { observedTime: 0, location: '/two' }).events);
    expect(new Set(a.map((e) => e.sourceId)).size).toBe(a.length);
    expect(b.map((e) => e.sourceId)).toEqual(a.map((e) => e.sourceId));
  });
});

describe('hubble decoder', () => {
  it('keeps the pod identity of both ends and picks the local end as the event workload', () => {
    const r = decodeFile(new HubbleDecoder(), 'lines', fixture('hubble/observe-jsonpb.jsonl'), 'h');
    const [request, reply, ingress] = flows(r.events);
    expect(request?.src.workload?.pod).toBe('billing-api-7c9d8f6b5-x2k4q');
    expect(request?.workload?.pod).toBe('billing-api-7c9d8f6b5-x2k4q');
    expect(reply?.src.address).toBe('198.51.100.7');
    expect(reply?.workload?.pod).toBe('billing-api-7c9d8f6b5-x2k4q');
    expect(ingress?.workload?.pod).toBe('ingress-gw-0');
    const docs = flows(decodeFile(new HubbleDecoder(), 'lines', fixture('hubble/cilium-docs-exporter.jsonl'), 'd').events);
    expect(docs[1]?.src.workload?.pod).toBe('xwing');
    expect(docs[1]?.dst.workload?.pod).toBe('deathstar-7848d6c4d5-th9v2');
    expect(docs[1]).toMatchObject({ direction: 'internal', action: 'reject', protocol: 6, src: { port: 44916 }, dst: { port: 80 } });
  });
  it('bounds the labels copied per endpoint', () => {
    const labels = Array.from({ length: 100 }, (_, i) => `k8s:l${i}=v`);
    const line = JSON.stringify({
      flow: { time: '2024-03-01T00:00:00Z', IP: { source: '10.0.0.1', destination: '198.51.100.1' }, source: { namespace: 'a', pod_name: 'p', labels } },
    });
    const e = flows(decodeAll(new HubbleDecoder({ maxLabels: 5 }), line, { observedTime: 0 }).events)[0];
    expect(Object.keys(e?.src.workload?.labels ?? {})).toHaveLength(5);
  });
});

describe('sniff', () => {
  const files: Record<string, string[]> = {
    aws_vpc_flow: [
      'aws_vpc/v2-default.log',
      'aws_vpc/v5-custom.log',
      'aws_vpc/v7-ecs.log',
      'aws_vpc/cloudwatch-export.log',
      'aws_vpc/cloudwatch-subscription.jsonl',
    ],
    gcp_vpc_flow: ['gcp/vpc_flows.jsonl', 'gcp/gcloud-read.json'],
    azure_flow: ['azure/nsg-v1.json', 'azure/nsg-v2.json', 'azure/vnet.json'],
    hubble: ['hubble/observe-jsonpb.jsonl', 'hubble/cilium-docs-exporter.jsonl'],
  };
  const others = {
    cloudtrail:
      '{"Records":[{"eventVersion":"1.08","eventSource":"ec2.amazonaws.com","eventName":"ModifySnapshotAttribute","sourceIPAddress":"198.51.100.7"}]}',
    k8sAudit:
      '{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"1","stage":"ResponseComplete","verb":"get","sourceIPs":["10.0.0.1"]}',
    falco: '{"output":"x","priority":"Warning","rule":"Terminal shell in container","time":"2024-03-01T00:00:00Z","output_fields":{}}',
    tetragon: '{"process_exec":{"process":{"binary":"/bin/sh"}},"node_name":"n1","time":"2024-03-01T00:00:00Z"}',
    csv: 'a,b,c\n1,2,3\n',
    text: 'hello world this is a plain text file\nwith two lines\n',
  };
  for (const [name, list] of Object.entries(files)) {
    for (const file of list) {
      it(`${file} is recognised as ${name} and as nothing else`, () => {
        const head = fixture(file).slice(0, 65536);
        const scores = Object.fromEntries(formats.map((f) => [f.name, f.sniff?.(head) ?? 0]));
        expect(scores[name]).toBeGreaterThanOrEqual(0.7);
        for (const [other, score] of Object.entries(scores)) if (other !== name) expect(score, `${other} on ${file}`).toBeLessThan(0.3);
      });
    }
  }
  it("other sources' files score low for every flow format", () => {
    for (const [what, head] of Object.entries(others)) for (const f of formats) expect(f.sniff?.(head) ?? 0, `${f.name} on ${what}`).toBeLessThan(0.3);
  });
  it('sniff scores stay in [0, 1] on empty and odd input', () => {
    for (const head of ['', '\n\n', '{', '[', 'version', '2 x']) for (const f of formats) expect(f.sniff?.(head)).toBeGreaterThanOrEqual(0);
  });
});
