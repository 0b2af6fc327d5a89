import { type AttributeValue, type DecodeError, type DecodeMeta, type DecodeSink, type FlowDirection, KeyedState, type NetworkFlowEvent } from '@outflow/core';
import { hexText, ipv4Text, ipv6Text, ntpToMs, readUint } from './bytes.js';
import { CidrSet, DEFAULT_INTERNAL_CIDRS } from './cidr.js';
import { SLOT_COUNT, Slot } from './ie.js';
import { type DatagramContext, PendingBuffer, type PendingDropReason, type PendingSet } from './pending.js';
import { compileTemplate, type Template, type TemplateField, templateProblem, VARIABLE_LENGTH } from './templates.js';

/** Source name of every event this package decodes. */
export const NETFLOW_SOURCE = 'netflow';

export interface NetflowDecoderOptions {
  /** Ranges counted as internal when direction is derived from addresses. Default: private, shared, loopback and link-local ranges. */
  internalCidrs?: readonly string[];
  /** Take direction from flowDirection (IE 61) when a record has it. Default true. */
  useFlowDirection?: boolean;
  /** Multiply bytes and packets by the sampling interval when one is known. Default false. */
  applySampling?: boolean;
  /** Put every field of the record (by element name) into `event.raw`. Default false. */
  includeRaw?: boolean;
  /** Exporters whose templates are kept; the least recently seen is forgotten past it. Default 1000. */
  maxExporters?: number;
  /** An exporter not heard from for this long is forgotten with its templates. Default 1 hour. */
  exporterTtlMs?: number;
  /** Templates kept per exporter (all observation domains together). Default 1024. */
  maxTemplatesPerExporter?: number;
  /** A template neither refreshed nor used for this long expires. Default 30 minutes. */
  templateTtlMs?: number;
  /** Bytes of data sets held while their template is missing. Default 1 MiB. */
  pendingMaxBytes?: number;
  /** How long a data set waits for its template before it is dropped (`template_timeout`). Default 60 s. */
  pendingTtlMs?: number;
  /** Exporter + domain + template id keys with sets waiting. Default 4096. */
  pendingMaxKeys?: number;
}

/** A DecodeSink that may also hear about records dropped without a dead letter (no addresses). */
export interface NetflowSink extends DecodeSink<NetworkFlowEvent> {
  /** Records or sets dropped, with a reason (`template_timeout`, `buffer_full`, `no_address`). */
  dropped?(reason: string, count: number): void;
}

/** What one `decode` call did. Every datagram shows up in at least one count. */
export interface DecodeSummary {
  events: number;
  errors: number;
  /** Templates and options templates added or refreshed. */
  templates: number;
  withdrawals: number;
  /** Data sets held until their template arrives. */
  buffered: number;
  /** Held data sets decoded because their template arrived in this datagram. */
  replayed: number;
  /** Options data records read (sampling, system init time). */
  optionsRecords: number;
  /** Records dropped without an error (no addresses). */
  dropped: number;
  /** A well-formed datagram with no records (an empty IPFIX message or v9 packet). */
  empty: boolean;
}

/** Running totals since the decoder was created. */
export interface DecoderStats {
  datagrams: number;
  events: number;
  templates: number;
  templatesReplaced: number;
  withdrawals: number;
  buffered: number;
  replayed: number;
  optionsRecords: number;
  errors: Record<string, number>;
  dropped: Record<string, number>;
}

interface DomainState {
  /** systemInitTimeMilliseconds from options data, NaN until known. */
  systemInit: number;
  /** Exporter-wide sampling interval from options data, NaN until known. */
  samplingInterval: number;
  /** Sampling interval per sampler / selector id. */
  samplers: Map<number, number>;
}

interface ExporterState {
  /** Templates keyed by domain * 65536 + template id. */
  templates: KeyedState<number, Template>;
  domains: KeyedState<number, DomainState>;
}

const MAX_DOMAINS_PER_EXPORTER = 256;
const MAX_SAMPLERS_PER_DOMAIN = 64;
const V5_HEADER = 24;
const V5_RECORD = 48;
const V9_HEADER = 20;
const IPFIX_HEADER = 16;

const DIRECTIONS: readonly FlowDirection[] = ['ingress', 'egress'];

function emptySummary(): DecodeSummary {
  return { events: 0, errors: 0, templates: 0, withdrawals: 0, buffered: 0, replayed: 0, optionsRecords: 0, dropped: 0, empty: false };
}

function allZero(bytes: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (bytes[i] !== 0) return false;
  return true;
}

/**
 * Decodes NetFlow v5, NetFlow v9 (RFC 3954) and IPFIX (RFC 7011) datagrams
 * into NetworkFlowEvents. Pure apart from its template cache (bounded per
 * exporter and in exporters, with TTLs) and the bounded buffer of data sets
 * waiting for their template. Never throws: every malformed part goes to
 * `sink.error` with a reason and its raw bytes, and decoding goes on with
 * whatever the framing still allows.
 */
export class NetflowDecoder {
  readonly format = NETFLOW_SOURCE;
  private readonly exporters: KeyedState<string, ExporterState>;
  private readonly pending: PendingBuffer;
  private readonly internal: CidrSet;
  private readonly useFlowDirection: boolean;
  private readonly applySampling: boolean;
  private readonly includeRaw: boolean;
  private readonly maxTemplates: number;
  private readonly templateTtlMs: number;
  /** Scratch values of the record being decoded, NaN when absent. */
  private readonly values = new Float64Array(SLOT_COUNT);
  private sink: NetflowSink = { event: () => {}, error: () => {} };
  private summary: DecodeSummary = emptySummary();
  /** Ids of templates this datagram brought while data sets were waiting. */
  private arrived: number[] = [];
  readonly stats: DecoderStats = {
    datagrams: 0,
    events: 0,
    templates: 0,
    templatesReplaced: 0,
    withdrawals: 0,
    buffered: 0,
    replayed: 0,
    optionsRecords: 0,
    errors: {},
    dropped: {},
  };

  constructor(options: NetflowDecoderOptions = {}) {
    this.internal = new CidrSet(options.internalCidrs ?? DEFAULT_INTERNAL_CIDRS);
    this.useFlowDirection = options.useFlowDirection ?? false;
    this.applySampling = options.applySampling ?? false;
    this.includeRaw = options.includeRaw ?? false;
    this.maxTemplates = options.maxTemplatesPerExporter ?? 1024;
    this.templateTtlMs = options.templateTtlMs ?? 30 * 60_000;
    this.exporters = new KeyedState({ maxKeys: options.maxExporters ?? 1000, ttlMs: options.exporterTtlMs ?? 60 * 60_000 });
    this.pending = new PendingBuffer(options.pendingMaxBytes ?? 1 << 20, options.pendingTtlMs ?? 60_000, options.pendingMaxKeys ?? 4096);
  }

  /** Exporters with state. */
  get exporterCount(): number {
    return this.exporters.size;
  }

  /** Templates held, over all exporters. */
  get templateCount(): number {
    let n = 0;
    for (const [, state] of this.exporters.entries()) n += state.templates.size;
    return n;
  }

  /** Bytes of data sets waiting for their template. */
  get pendingBytes(): number {
    return this.pending.bytes;
  }

  /** Data sets waiting for their template. */
  get pendingSets(): number {
    return this.pending.count;
  }

  /**
   * Decode one datagram from `exporter` (its source address: templates are
   * kept per exporter and observation domain). Events and errors go to `sink`;
   * events of data sets held earlier are emitted here when this datagram
   * brings their template.
   */
  decode(datagram: Uint8Array, exporter: string, sink: NetflowSink, meta: DecodeMeta): DecodeSummary {
    this.sink = sink;
    const summary = emptySummary();
    this.summary = summary;
    this.stats.datagrams++;
    const now = meta.observedTime;
    try {
      this.exporters.expire(now);
      this.pending.expire(now, this.dropPending);
      const view = new DataView(datagram.buffer, datagram.byteOffset, datagram.byteLength);
      const base = meta.location ?? exporter;
      if (datagram.byteLength < 2) {
        this.error('short_datagram', `datagram of ${datagram.byteLength} bytes has no version`, datagram, base);
        return summary;
      }
      const version = view.getUint16(0);
      if (version === 5) this.decodeV5(datagram, view, exporter, meta, base);
      else if (version === 9) this.decodeV9(datagram, view, exporter, meta, base);
      else if (version === 10) this.decodeIpfix(datagram, view, exporter, meta, base);
      else this.error('unsupported_version', `version ${version} is not NetFlow v5, v9 or IPFIX (10)`, datagram, base);
    } catch (err) {
      // a bug, not bad input: still never escape to the transport
      this.error('decoder_exception', `decoder failed: ${err instanceof Error ? err.message : String(err)}`, datagram, meta.location ?? exporter);
    }
    return summary;
  }

  /** Drop data sets that waited past the TTL, reporting each. Call it on a timer so they go even when no datagram comes. */
  expire(now: number, sink: NetflowSink): number {
    this.sink = sink;
    this.summary = emptySummary();
    this.exporters.expire(now);
    return this.pending.expire(now, this.dropPending);
  }

  /** Drop every held data set (at shutdown), reporting each with reason `shutdown`. */
  flush(sink: NetflowSink): void {
    this.sink = sink;
    this.summary = emptySummary();
    this.pending.clear(this.dropPending);
  }

  // ---------------------------------------------------------------- v5

  private decodeV5(bytes: Uint8Array, view: DataView, exporter: string, meta: DecodeMeta, base: string): void {
    const len = bytes.byteLength;
    if (len < V5_HEADER) {
      this.error('short_datagram', `NetFlow v5 header needs ${V5_HEADER} bytes, got ${len}`, bytes, base);
      return;
    }
    const count = view.getUint16(2);
    const sysUptime = view.getUint32(4);
    const exportMs = view.getUint32(8) * 1000 + Math.floor(view.getUint32(12) / 1e6);
    const sequence = view.getUint32(16);
    const domain = (bytes[20] as number) * 256 + (bytes[21] as number);
    const sampling = view.getUint16(22) & 0x3fff;
    if (count === 0) {
      this.error('bad_count', 'NetFlow v5 header announces 0 records', bytes, base);
      return;
    }
    const expected = V5_HEADER + count * V5_RECORD;
    let n = count;
    if (len < expected) {
      n = Math.floor((len - V5_HEADER) / V5_RECORD);
      this.error('truncated', `NetFlow v5 header announces ${count} records (${expected} bytes) but the datagram has ${len} bytes`, bytes, base);
    } else if (len > expected) {
      this.error(
        'trailing_bytes',
        `${len - expected} bytes after the ${count} records of a NetFlow v5 datagram`,
        bytes.subarray(expected),
        `${base}#${expected}`,
      );
    }
    const ctx: DatagramContext = {
      version: 5,
      exporter,
      domain,
      sequence,
      exportMs,
      sysUptime,
      observedTime: meta.observedTime,
      location: meta.location,
      receiver: meta.receiver,
    };
    const v = this.values;
    for (let r = 0; r < n; r++) {
      const p = V5_HEADER + r * V5_RECORD;
      v.fill(Number.NaN);
      v[Slot.SrcV4] = view.getUint32(p);
      v[Slot.DstV4] = view.getUint32(p + 4);
      v[Slot.NextHopV4] = view.getUint32(p + 8);
      v[Slot.InputIf] = view.getUint16(p + 12);
      v[Slot.OutputIf] = view.getUint16(p + 14);
      v[Slot.Packets] = view.getUint32(p + 16);
      v[Slot.Bytes] = view.getUint32(p + 20);
      v[Slot.StartUptime] = view.getUint32(p + 24);
      v[Slot.EndUptime] = view.getUint32(p + 28);
      const protocol = bytes[p + 38] as number;
      v[Slot.Protocol] = protocol;
      if (protocol === 1) {
        // v5 carries ICMP type and code in the destination port (type * 256 + code)
        v[Slot.IcmpTypeCode] = view.getUint16(p + 34);
      } else {
        v[Slot.SrcPort] = view.getUint16(p + 32);
        v[Slot.DstPort] = view.getUint16(p + 34);
      }
      v[Slot.TcpFlags] = bytes[p + 37] as number;
      v[Slot.Tos] = bytes[p + 39] as number;
      v[Slot.SrcAs] = view.getUint16(p + 40);
      v[Slot.DstAs] = view.getUint16(p + 42);
      if (sampling > 0) v[Slot.SamplingInterval] = sampling;
      const raw = this.includeRaw ? v5Raw(bytes, view, p) : undefined;
      this.emitFlow(ctx, bytes, `${exporter}/${domain}/${sequence}/${r}`, raw, undefined);
    }
  }

  // ---------------------------------------------------------------- v9 and IPFIX

  private decodeV9(bytes: Uint8Array, view: DataView, exporter: string, meta: DecodeMeta, base: string): void {
    const len = bytes.byteLength;
    if (len < V9_HEADER) {
      this.error('short_datagram', `NetFlow v9 header needs ${V9_HEADER} bytes, got ${len}`, bytes, base);
      return;
    }
    const sysUptime = view.getUint32(4);
    const ctx: DatagramContext = {
      version: 9,
      exporter,
      domain: view.getUint32(16),
      sequence: view.getUint32(12),
      exportMs: view.getUint32(8) * 1000,
      sysUptime,
      observedTime: meta.observedTime,
      location: meta.location,
      receiver: meta.receiver,
    };
    this.decodeSets(bytes, view, V9_HEADER, len, ctx, base);
  }

  private decodeIpfix(bytes: Uint8Array, view: DataView, exporter: string, meta: DecodeMeta, base: string): void {
    const len = bytes.byteLength;
    if (len < IPFIX_HEADER) {
      this.error('short_datagram', `IPFIX message header needs ${IPFIX_HEADER} bytes, got ${len}`, bytes, base);
      return;
    }
    const length = view.getUint16(2);
    let end = len;
    if (length < IPFIX_HEADER) {
      this.error('bad_message_length', `IPFIX message length ${length} is shorter than its header`, bytes, base);
      return;
    }
    if (length > len) {
      this.error('message_past_end', `IPFIX message length ${length} runs past the end of the ${len}-byte datagram`, bytes, base);
    } else if (length < len) {
      end = length;
      this.error('trailing_bytes', `${len - length} bytes after the ${length}-byte IPFIX message`, bytes.subarray(length), `${base}#${length}`);
    }
    const ctx: DatagramContext = {
      version: 10,
      exporter,
      domain: view.getUint32(12),
      sequence: view.getUint32(8),
      exportMs: view.getUint32(4) * 1000,
      sysUptime: Number.NaN,
      observedTime: meta.observedTime,
      location: meta.location,
      receiver: meta.receiver,
    };
    this.decodeSets(bytes, view, IPFIX_HEADER, end, ctx, base);
  }

  private decodeSets(bytes: Uint8Array, view: DataView, start: number, end: number, ctx: DatagramContext, base: string): void {
    const state = this.exporters.getOrCreate(ctx.exporter, ctx.observedTime, () => this.newExporter());
    state.templates.expire(ctx.observedTime);
    this.arrived = [];
    try {
      this.walkSets(bytes, view, start, end, ctx, state, base);
    } finally {
      this.replayArrived(ctx, state);
    }
  }

  private walkSets(bytes: Uint8Array, view: DataView, start: number, end: number, ctx: DatagramContext, state: ExporterState, base: string): void {
    const ipfix = ctx.version === 10;
    const templateSet = ipfix ? 2 : 0;
    const optionsSet = ipfix ? 3 : 1;
    let pos = start;
    let dataSetIndex = 0;
    let sets = 0;
    while (end - pos >= 4) {
      const setId = view.getUint16(pos);
      const setLength = view.getUint16(pos + 2);
      if (setLength < 4) {
        this.error('bad_set_length', `set ${setId} has length ${setLength} (at least 4)`, bytes.subarray(pos, end), `${base}#${pos}`);
        return;
      }
      if (pos + setLength > end) {
        this.error(
          'set_past_end',
          `set ${setId} of length ${setLength} at byte ${pos} runs past the end of the ${ipfix ? 'message' : 'datagram'} (${end} bytes)`,
          bytes.subarray(pos, end),
          `${base}#${pos}`,
        );
        return;
      }
      sets++;
      const body = pos + 4;
      const setEnd = pos + setLength;
      if (setId === templateSet) this.readTemplates(bytes, view, body, setEnd, ctx, state, false, base);
      else if (setId === optionsSet) this.readTemplates(bytes, view, body, setEnd, ctx, state, true, base);
      else if (setId >= 256) this.dataSet(bytes, view, pos, setEnd, setId, ctx, state, dataSetIndex++, base);
      else this.error('reserved_set_id', `set id ${setId} is reserved`, bytes.subarray(pos, setEnd), `${base}#${pos}`);
      pos = setEnd;
    }
    if (pos < end && !allZero(bytes, pos, end)) {
      this.error('trailing_bytes', `${end - pos} bytes after the last set`, bytes.subarray(pos, end), `${base}#${pos}`);
    } else if (sets === 0 && this.summary.errors === 0) {
      this.summary.empty = true;
    }
  }

  private newExporter(): ExporterState {
    return {
      // a used template moves to the back of the eviction order at most once a second
      templates: new KeyedState<number, Template>({
        maxKeys: this.maxTemplates,
        ttlMs: this.templateTtlMs,
        touchGranularityMs: Math.min(1000, this.templateTtlMs / 64),
      }),
      domains: new KeyedState<number, DomainState>({ maxKeys: MAX_DOMAINS_PER_EXPORTER, ttlMs: this.templateTtlMs }),
    };
  }

  private readTemplates(
    bytes: Uint8Array,
    view: DataView,
    start: number,
    end: number,
    ctx: DatagramContext,
    state: ExporterState,
    options: boolean,
    base: string,
  ): void {
    const ipfix = ctx.version === 10;
    let pos = start;
    // records until only padding (< 4 bytes) is left
    while (end - pos >= 4) {
      const recordStart = pos;
      const id = view.getUint16(pos);
      const count = view.getUint16(pos + 2);
      pos += 4;
      let scopeCount = 0;
      let fieldCount = count;
      if (ipfix && count === 0) {
        this.withdraw(ctx, state, id, options, bytes.subarray(recordStart, pos), `${base}#${recordStart}`);
        continue;
      }
      if (!ipfix && id === 0 && count === 0 && allZero(bytes, recordStart, end)) break; // zero padding
      if (options) {
        if (ipfix) {
          if (end - pos < 2) {
            this.error('template_past_end', `options template ${id} runs past the end of its set`, bytes.subarray(recordStart, end), `${base}#${recordStart}`);
            return;
          }
          scopeCount = view.getUint16(pos);
          pos += 2;
          if (scopeCount === 0 || scopeCount > count) {
            this.error(
              'bad_options_template',
              `options template ${id} has scope count ${scopeCount} for ${count} fields`,
              bytes.subarray(recordStart, end),
              `${base}#${recordStart}`,
            );
            return; // the field count may be garbage too: the rest of the set cannot be trusted
          }
        } else {
          // v9: id, option scope length (bytes), option length (bytes)
          const scopeBytes = count;
          if (end - pos < 2) {
            this.error('template_past_end', `options template ${id} runs past the end of its set`, bytes.subarray(recordStart, end), `${base}#${recordStart}`);
            return;
          }
          const optionBytes = view.getUint16(pos);
          pos += 2;
          if (scopeBytes % 4 !== 0 || optionBytes % 4 !== 0 || scopeBytes === 0) {
            this.error(
              'bad_options_template',
              `options template ${id} has scope length ${scopeBytes} and option length ${optionBytes} (multiples of 4, scope not empty)`,
              bytes.subarray(recordStart, end),
              `${base}#${recordStart}`,
            );
            return;
          }
          scopeCount = scopeBytes / 4;
          fieldCount = scopeCount + optionBytes / 4;
        }
      }
      const fields: TemplateField[] = [];
      let ok = true;
      for (let i = 0; i < fieldCount; i++) {
        if (end - pos < 4) {
          ok = false;
          break;
        }
        let ie = view.getUint16(pos);
        const length = view.getUint16(pos + 2);
        pos += 4;
        let pen = 0;
        if (ipfix && ie & 0x8000) {
          if (end - pos < 4) {
            ok = false;
            break;
          }
          ie &= 0x7fff;
          pen = view.getUint32(pos);
          pos += 4;
        }
        fields.push({ id: ie, pen, length, scope: i < scopeCount });
      }
      if (!ok) {
        this.error(
          'template_past_end',
          `template ${id} announces ${fieldCount} fields but its set ends first`,
          bytes.subarray(recordStart, end),
          `${base}#${recordStart}`,
        );
        return;
      }
      if (id < 256) {
        this.error('bad_template_id', `template id ${id} is below 256`, bytes.subarray(recordStart, pos), `${base}#${recordStart}`);
        continue;
      }
      if (!ipfix && count === 0 && !options) {
        this.error('empty_template', `template ${id} has no fields`, bytes.subarray(recordStart, pos), `${base}#${recordStart}`);
        continue;
      }
      const problem = templateProblem(fields, ctx.version);
      if (problem) {
        this.error('bad_template', `template ${id}: ${problem}`, bytes.subarray(recordStart, pos), `${base}#${recordStart}`);
        continue;
      }
      this.addTemplate(ctx, state, compileTemplate(id, fields, options, scopeCount, ctx.version));
    }
  }

  private addTemplate(ctx: DatagramContext, state: ExporterState, template: Template): void {
    const key = ctx.domain * 65536 + template.id;
    const previous = state.templates.peek(key);
    if (previous && previous.signature !== template.signature) this.stats.templatesReplaced++;
    state.templates.set(key, template, ctx.observedTime);
    this.stats.templates++;
    this.summary.templates++;
    if (this.pending.count > 0) this.arrived.push(template.id);
  }

  /**
   * Decode the data sets that waited for templates this datagram brought. Runs
   * after the whole datagram, so options data later in it (sampling, system
   * init time) apply to them too.
   */
  private replayArrived(ctx: DatagramContext, state: ExporterState): void {
    const ids = this.arrived;
    if (ids.length === 0) return;
    this.arrived = [];
    for (const id of ids) {
      const template = state.templates.peek(ctx.domain * 65536 + id);
      if (!template) continue; // withdrawn again in the same datagram: the sets keep waiting
      const waiting = this.pending.take(pendingKey(ctx.exporter, ctx.domain, id));
      if (!waiting) continue;
      for (const set of waiting) {
        this.stats.replayed++;
        this.summary.replayed++;
        const view = new DataView(set.bytes.buffer, set.bytes.byteOffset, set.bytes.byteLength);
        const base = set.ctx.location ?? set.ctx.exporter;
        this.decodeDataSet(set.bytes, view, 0, set.bytes.byteLength, template, set.ctx, state, set.setIndex, base, set.offset);
      }
    }
  }

  private withdraw(ctx: DatagramContext, state: ExporterState, id: number, options: boolean, raw: Uint8Array, location: string): void {
    const all = id === (options ? 3 : 2);
    if (!all && id < 256) {
      this.error('bad_template_id', `withdrawal of template id ${id}`, raw, location);
      return;
    }
    this.stats.withdrawals++;
    this.summary.withdrawals++;
    if (!all) {
      state.templates.delete(ctx.domain * 65536 + id);
      return;
    }
    const doomed: number[] = [];
    for (const [key, template] of state.templates.entries()) {
      if (Math.floor(key / 65536) === ctx.domain && template.options === options) doomed.push(key);
    }
    for (const key of doomed) state.templates.delete(key);
  }

  private dataSet(
    bytes: Uint8Array,
    view: DataView,
    setStart: number,
    setEnd: number,
    setId: number,
    ctx: DatagramContext,
    state: ExporterState,
    setIndex: number,
    base: string,
  ): void {
    const template = state.templates.get(ctx.domain * 65536 + setId, ctx.observedTime);
    if (template) {
      this.decodeDataSet(bytes, view, setStart, setEnd, template, ctx, state, setIndex, base, setStart);
      return;
    }
    // no template yet: hold a copy of the set until it comes (or the TTL passes)
    const set: PendingSet = {
      key: pendingKey(ctx.exporter, ctx.domain, setId),
      templateId: setId,
      ctx,
      bytes: bytes.slice(setStart, setEnd),
      setIndex,
      offset: setStart,
      receivedAt: ctx.observedTime,
      done: false,
    };
    this.stats.buffered++;
    this.summary.buffered++;
    this.pending.add(set, ctx.observedTime, this.dropPending);
  }

  /** Decode the records of one data set (`start` is the set header) with its template. */
  private decodeDataSet(
    bytes: Uint8Array,
    view: DataView,
    start: number,
    end: number,
    template: Template,
    ctx: DatagramContext,
    state: ExporterState,
    setIndex: number,
    base: string,
    originalOffset: number,
  ): void {
    let pos = start + 4;
    const idPrefix = `${ctx.exporter}/${ctx.domain}/${ctx.sequence}/${setIndex}.`;
    let r = 0;
    const fixed = template.fixedLength;
    const min = fixed > 0 ? fixed : template.minLength;
    const domain = template.options ? undefined : state.domains.peek(ctx.domain);
    while (end - pos >= min) {
      const next = this.readRecord(bytes, view, pos, end, template);
      if (next < 0) {
        if (r === 0 || !allZero(bytes, pos, end)) {
          this.error(
            'record_past_end',
            `record ${r} of set ${template.id} runs past the end of its set`,
            bytes.subarray(start, end),
            `${base}#${originalOffset + (pos - start)}`,
          );
        }
        return;
      }
      if (template.options) this.applyOptions(ctx, state);
      else this.emitFlow(ctx, bytes, idPrefix + r, this.includeRaw ? templateRaw(bytes, view, pos, template) : undefined, domain);
      r++;
      pos = next;
    }
    if (r === 0 && !allZero(bytes, start + 4, end)) {
      this.error(
        'short_data_set',
        `data set ${template.id} of ${end - start - 4} bytes holds no whole record (records need ${min} bytes)`,
        bytes.subarray(start, end),
        `${base}#${originalOffset}`,
      );
    }
  }

  /** Read one record into the scratch values. Returns the next position, or -1 when a field runs past `end`. */
  private readRecord(bytes: Uint8Array, view: DataView, start: number, end: number, template: Template): number {
    const v = this.values;
    v.fill(Number.NaN);
    const slots = template.slots;
    const lengths = template.lengths;
    let pos = start;
    for (let f = 0; f < slots.length; f++) {
      let len = lengths[f] as number;
      if (len === VARIABLE_LENGTH) {
        if (pos >= end) return -1;
        len = bytes[pos] as number;
        pos++;
        if (len === 255) {
          if (end - pos < 2) return -1;
          len = view.getUint16(pos);
          pos += 2;
        }
      }
      if (end - pos < len) return -1;
      const slot = slots[f] as number;
      if (slot !== Slot.Skip) this.store(slot, bytes, view, pos, len);
      pos += len;
    }
    return pos;
  }

  private store(slot: number, bytes: Uint8Array, view: DataView, pos: number, len: number): void {
    const v = this.values;
    switch (slot) {
      case Slot.SrcV6:
      case Slot.DstV6:
      case Slot.NextHopV6:
        if (len === 16) v[slot] = pos;
        return;
      case Slot.SrcV4:
      case Slot.DstV4:
      case Slot.NextHopV4:
        if (len === 4) v[slot] = view.getUint32(pos);
        return;
      case Slot.StartMicros:
      case Slot.EndMicros:
      case Slot.StartNanos:
      case Slot.EndNanos:
        if (len === 8) v[slot] = ntpToMs(view, pos);
        return;
      default:
        if (len <= 8) v[slot] = readUint(bytes, view, pos, len);
    }
  }

  /** Options data: remember sampling intervals and the exporter's system init time for its domain. */
  private applyOptions(ctx: DatagramContext, state: ExporterState): void {
    const v = this.values;
    this.stats.optionsRecords++;
    this.summary.optionsRecords++;
    const domain = state.domains.getOrCreate(ctx.domain, ctx.observedTime, () => ({
      systemInit: Number.NaN,
      samplingInterval: Number.NaN,
      samplers: new Map(),
    }));
    const init = v[Slot.SystemInit] as number;
    if (!Number.isNaN(init)) domain.systemInit = init;
    let interval = v[Slot.SamplingInterval] as number;
    if (Number.isNaN(interval)) interval = v[Slot.SamplerRandomInterval] as number;
    if (Number.isNaN(interval)) interval = packetInterval(v);
    if (Number.isNaN(interval) || interval < 1) return;
    const sampler = v[Slot.SamplerId] as number;
    if (Number.isNaN(sampler)) domain.samplingInterval = interval;
    else if (domain.samplers.has(sampler) || domain.samplers.size < MAX_SAMPLERS_PER_DOMAIN) domain.samplers.set(sampler, interval);
  }

  /** Build a NetworkFlowEvent from the scratch values. */
  private emitFlow(ctx: DatagramContext, bytes: Uint8Array, sourceId: string, raw: Record<string, unknown> | undefined, domain: DomainState | undefined): void {
    const v = this.values;
    const src = this.address(v[Slot.SrcV4] as number, v[Slot.SrcV6] as number, bytes);
    const dst = this.address(v[Slot.DstV4] as number, v[Slot.DstV6] as number, bytes);
    if (src === undefined || dst === undefined) {
      this.dropped('no_address', 1);
      return;
    }
    const ipv6 = Number.isNaN(v[Slot.SrcV4] as number);

    // sampling: the record's own interval, else its sampler's, else the domain's
    let sampling = v[Slot.SamplingInterval] as number;
    if (Number.isNaN(sampling)) sampling = packetInterval(v);
    if (Number.isNaN(sampling) && domain) {
      const sampler = v[Slot.SamplerId] as number;
      sampling = (Number.isNaN(sampler) ? undefined : domain.samplers.get(sampler)) ?? domain.samplingInterval;
    }
    const scale = this.applySampling && sampling > 1 ? sampling : 1;

    const start = this.time(v, ctx, domain, true);
    const end = this.time(v, ctx, domain, false);

    const event: NetworkFlowEvent = {
      kind: 'network_flow',
      time: end ?? start ?? ctx.exportMs,
      observedTime: ctx.observedTime,
      source: NETFLOW_SOURCE,
      sourceId,
      src: { address: src },
      dst: { address: dst },
      direction: this.direction(v, bytes, ipv6),
      action: action(v[Slot.ForwardingStatus] as number),
    };
    if (ctx.receiver !== undefined) event.receiver = ctx.receiver;
    if (ctx.location !== undefined) event.location = ctx.location;
    const srcPort = v[Slot.SrcPort] as number;
    const dstPort = v[Slot.DstPort] as number;
    if (!Number.isNaN(srcPort)) event.src.port = srcPort;
    if (!Number.isNaN(dstPort)) event.dst.port = dstPort;
    const protocol = v[Slot.Protocol] as number;
    if (!Number.isNaN(protocol)) event.protocol = protocol;
    const bytesCount = first(v[Slot.Bytes] as number, v[Slot.BytesTotal] as number, v[Slot.InitiatorBytes] as number);
    const packets = first(v[Slot.Packets] as number, v[Slot.PacketsTotal] as number, v[Slot.InitiatorPackets] as number);
    const reverseBytes = first(v[Slot.ReverseBytes] as number, v[Slot.ReverseBytesTotal] as number, v[Slot.ResponderBytes] as number);
    const reversePackets = first(v[Slot.ReversePackets] as number, v[Slot.ReversePacketsTotal] as number, v[Slot.ResponderPackets] as number);
    if (!Number.isNaN(bytesCount)) event.bytes = bytesCount * scale;
    if (!Number.isNaN(packets)) event.packets = packets * scale;
    if (!Number.isNaN(reverseBytes)) event.reverseBytes = reverseBytes * scale;
    if (!Number.isNaN(reversePackets)) event.reversePackets = reversePackets * scale;
    if (start !== undefined) event.start = start;
    if (end !== undefined) event.end = end;

    const attributes: Record<string, AttributeValue> = { 'netflow.version': ctx.version, 'network.type': ipv6 ? 'ipv6' : 'ipv4' };
    if (protocol === 6) attributes['network.transport'] = 'tcp';
    else if (protocol === 17) attributes['network.transport'] = 'udp';
    setNumber(attributes, 'netflow.tcp_flags', v[Slot.TcpFlags] as number);
    setNumber(attributes, 'netflow.tos', v[Slot.Tos] as number);
    setNumber(attributes, 'netflow.input_interface', v[Slot.InputIf] as number);
    setNumber(attributes, 'netflow.output_interface', v[Slot.OutputIf] as number);
    if (!Number.isNaN(sampling) && sampling >= 1) attributes['netflow.sampling_interval'] = sampling;
    const srcAs = v[Slot.SrcAs] as number;
    const dstAs = v[Slot.DstAs] as number;
    if (srcAs > 0) attributes['netflow.src_as'] = srcAs;
    if (dstAs > 0) attributes['netflow.dst_as'] = dstAs;
    const nextHop = this.address(v[Slot.NextHopV4] as number, v[Slot.NextHopV6] as number, bytes);
    if (nextHop !== undefined && nextHop !== '0.0.0.0' && nextHop !== '::') attributes['netflow.next_hop'] = nextHop;
    let icmp = v[Slot.IcmpTypeCode] as number;
    if (Number.isNaN(icmp)) icmp = v[Slot.IcmpTypeCodeV6] as number;
    if (!Number.isNaN(icmp) && (protocol === 1 || protocol === 58)) {
      attributes['netflow.icmp_type'] = icmp >> 8;
      attributes['netflow.icmp_code'] = icmp & 255;
    }
    setNumber(attributes, 'netflow.flow_end_reason', v[Slot.FlowEndReason] as number);
    event.attributes = attributes;
    if (raw) event.raw = raw;
    this.stats.events++;
    this.summary.events++;
    this.sink.event(event);
  }

  private address(v4: number, v6Offset: number, bytes: Uint8Array): string | undefined {
    if (!Number.isNaN(v4)) return ipv4Text(v4);
    if (!Number.isNaN(v6Offset)) return ipv6Text(bytes, v6Offset);
    return undefined;
  }

  private direction(v: Float64Array, bytes: Uint8Array, ipv6: boolean): FlowDirection {
    if (this.useFlowDirection) {
      const d = v[Slot.Direction] as number;
      if (d === 0 || d === 1) return DIRECTIONS[d] as FlowDirection;
    }
    let srcInternal: boolean;
    let dstInternal: boolean;
    if (ipv6) {
      srcInternal = this.internal.hasV6(bytes, v[Slot.SrcV6] as number);
      dstInternal = Number.isNaN(v[Slot.DstV6] as number) ? this.internal.hasV4(v[Slot.DstV4] as number) : this.internal.hasV6(bytes, v[Slot.DstV6] as number);
    } else {
      srcInternal = this.internal.hasV4(v[Slot.SrcV4] as number);
      dstInternal = Number.isNaN(v[Slot.DstV4] as number) ? this.internal.hasV6(bytes, v[Slot.DstV6] as number) : this.internal.hasV4(v[Slot.DstV4] as number);
    }
    if (srcInternal) return dstInternal ? 'internal' : 'egress';
    return dstInternal ? 'ingress' : 'unknown';
  }

  /** Flow start (or end) in epoch ms from whichever time element the record has. */
  private time(v: Float64Array, ctx: DatagramContext, domain: DomainState | undefined, start: boolean): number | undefined {
    let t = v[start ? Slot.StartMillis : Slot.EndMillis] as number;
    if (!Number.isNaN(t)) return t;
    t = v[start ? Slot.StartSeconds : Slot.EndSeconds] as number;
    if (!Number.isNaN(t)) return t * 1000;
    t = v[start ? Slot.StartMicros : Slot.EndMicros] as number;
    if (!Number.isNaN(t)) return t;
    t = v[start ? Slot.StartNanos : Slot.EndNanos] as number;
    if (!Number.isNaN(t)) return t;
    t = v[start ? Slot.StartDeltaMicros : Slot.EndDeltaMicros] as number;
    if (!Number.isNaN(t)) return ctx.exportMs - Math.round(t / 1000);
    const up = v[start ? Slot.StartUptime : Slot.EndUptime] as number;
    if (Number.isNaN(up)) return undefined;
    if (ctx.version !== 10) {
      // v5/v9: sysUptime-relative; the signed 32-bit difference also handles uptime wrap-around
      return ctx.exportMs - ((ctx.sysUptime - up) | 0);
    }
    let init = v[Slot.SystemInit] as number;
    if (Number.isNaN(init)) init = domain?.systemInit ?? Number.NaN;
    if (Number.isNaN(init)) return undefined;
    // uptime relative to systemInitTimeMilliseconds, taken modulo 2^32 around the export time
    const nowUp = ctx.exportMs - init;
    return ctx.exportMs - ((nowUp - up) | 0);
  }

  // ---------------------------------------------------------------- errors and drops

  private error(reason: string, message: string, raw: Uint8Array, location: string): void {
    this.stats.errors[reason] = (this.stats.errors[reason] ?? 0) + 1;
    this.summary.errors++;
    const error: DecodeError = { reason, message, raw, location };
    this.sink.error(error);
  }

  private dropped(reason: string, count: number): void {
    this.stats.dropped[reason] = (this.stats.dropped[reason] ?? 0) + count;
    this.summary.dropped += count;
    this.sink.dropped?.(reason, count);
  }

  private readonly dropPending = (set: PendingSet, reason: PendingDropReason): void => {
    this.dropped(reason, 1);
    const why =
      reason === 'template_timeout'
        ? `no template ${set.templateId} arrived within the wait`
        : reason === 'buffer_full'
          ? 'the buffer of data sets waiting for templates is full'
          : 'the receiver shut down before its template arrived';
    this.error(
      reason,
      `data set for template ${set.templateId} from ${set.ctx.exporter} (domain ${set.ctx.domain}) dropped: ${why}`,
      set.bytes,
      `${set.ctx.location ?? set.ctx.exporter}#${set.offset}`,
    );
  };
}

function pendingKey(exporter: string, domain: number, templateId: number): string {
  return `${exporter}\u0000${domain}\u0000${templateId}`;
}

function first(a: number, b: number, c: number): number {
  if (!Number.isNaN(a)) return a;
  if (!Number.isNaN(b)) return b;
  return c;
}

function setNumber(attributes: Record<string, AttributeValue>, key: string, value: number): void {
  if (!Number.isNaN(value)) attributes[key] = value;
}

/** samplingPacketInterval (305) and samplingPacketSpace (306): one in (interval + space) / interval packets. */
function packetInterval(v: Float64Array): number {
  const interval = v[Slot.SamplingPacketInterval] as number;
  if (Number.isNaN(interval) || interval <= 0) return Number.NaN;
  const space = v[Slot.SamplingPacketSpace] as number;
  return Number.isNaN(space) ? Number.NaN : (interval + space) / interval;
}

/** forwardingStatus (IE 89): the top two bits of its low byte (RFC 7270). */
function action(status: number): 'accept' | 'reject' | 'unknown' {
  if (Number.isNaN(status)) return 'accept';
  const s = (status >> 6) & 3;
  if (s === 1 || s === 3) return 'accept';
  if (s === 2) return 'reject';
  return 'unknown';
}

function v5Raw(bytes: Uint8Array, view: DataView, p: number): Record<string, unknown> {
  return {
    srcaddr: ipv4Text(view.getUint32(p)),
    dstaddr: ipv4Text(view.getUint32(p + 4)),
    nexthop: ipv4Text(view.getUint32(p + 8)),
    input: view.getUint16(p + 12),
    output: view.getUint16(p + 14),
    dPkts: view.getUint32(p + 16),
    dOctets: view.getUint32(p + 20),
    first: view.getUint32(p + 24),
    last: view.getUint32(p + 28),
    srcport: view.getUint16(p + 32),
    dstport: view.getUint16(p + 34),
    tcp_flags: bytes[p + 37],
    prot: bytes[p + 38],
    tos: bytes[p + 39],
    src_as: view.getUint16(p + 40),
    dst_as: view.getUint16(p + 42),
    src_mask: bytes[p + 44],
    dst_mask: bytes[p + 45],
  };
}

/** Every field of a template record by name: numbers up to 8 bytes, addresses as text, anything else as hex. */
function templateRaw(bytes: Uint8Array, view: DataView, start: number, template: Template): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  let pos = start;
  for (let f = 0; f < template.lengths.length; f++) {
    let len = template.lengths[f] as number;
    if (len === VARIABLE_LENGTH) {
      len = bytes[pos] as number;
      pos++;
      if (len === 255) {
        len = view.getUint16(pos);
        pos += 2;
      }
    }
    const field = template.fields[f] as TemplateField;
    const name = template.names[f] as string;
    const addressV4 = field.pen === 0 && (field.id === 8 || field.id === 12 || field.id === 15 || field.id === 18 || field.id === 130);
    const addressV6 = field.pen === 0 && (field.id === 27 || field.id === 28 || field.id === 62 || field.id === 131);
    let value: unknown;
    if (addressV4 && len === 4) value = ipv4Text(view.getUint32(pos));
    else if (addressV6 && len === 16) value = ipv6Text(bytes, pos);
    else if (template.lengths[f] !== VARIABLE_LENGTH && len <= 8 && !(field.pen === 0 && (field.id === 56 || field.id === 80 || field.id === 57)))
      value = readUint(bytes, view, pos, len);
    else value = hexText(bytes, pos, len);
    out[name] = value;
    pos += len;
  }
  return out;
}
