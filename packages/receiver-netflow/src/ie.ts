/**
 * Information elements the decoder understands. NetFlow v9 field types 1-127
 * and IPFIX information element ids share one numbering (RFC 3954 §8, IANA
 * "IPFIX Information Elements", values 0-127 "NFv9-compatible"), so one table
 * serves both versions.
 */

/** What the decoder does with a field's value. */
export enum Slot {
  /** Read nothing (unknown element, scope field, enterprise element): skipped by its length. */
  Skip = 0,
  Bytes,
  Packets,
  BytesTotal,
  PacketsTotal,
  InitiatorBytes,
  ResponderBytes,
  InitiatorPackets,
  ResponderPackets,
  ReverseBytes,
  ReversePackets,
  ReverseBytesTotal,
  ReversePacketsTotal,
  Protocol,
  Tos,
  TcpFlags,
  SrcPort,
  DstPort,
  InputIf,
  OutputIf,
  SrcAs,
  DstAs,
  Direction,
  ForwardingStatus,
  StartUptime,
  EndUptime,
  StartSeconds,
  EndSeconds,
  StartMillis,
  EndMillis,
  StartMicros,
  EndMicros,
  StartNanos,
  EndNanos,
  StartDeltaMicros,
  EndDeltaMicros,
  SystemInit,
  SamplingInterval,
  SamplerId,
  SamplerRandomInterval,
  SamplingPacketInterval,
  SamplingPacketSpace,
  SrcV4,
  DstV4,
  NextHopV4,
  SrcV6,
  DstV6,
  NextHopV6,
  IcmpTypeCode,
  IcmpTypeCodeV6,
  FlowEndReason,
}

/** Number of numeric slots in a scratch record (Slot values 1..SLOT_COUNT-1). */
export const SLOT_COUNT = Slot.FlowEndReason + 1;

/** IANA private enterprise number of the RFC 5103 reverse information elements. */
export const REVERSE_PEN = 29305;

/** One row of the supported-elements table. */
export interface ElementInfo {
  id: number;
  name: string;
  slot: Slot;
  /** Where the value lands in the event, for the README table. */
  maps: string;
}

/** IANA (enterprise 0) elements the decoder maps, by id. */
export const ELEMENTS: readonly ElementInfo[] = [
  { id: 1, name: 'octetDeltaCount', slot: Slot.Bytes, maps: 'bytes' },
  { id: 2, name: 'packetDeltaCount', slot: Slot.Packets, maps: 'packets' },
  { id: 4, name: 'protocolIdentifier', slot: Slot.Protocol, maps: 'protocol, attributes["network.transport"]' },
  { id: 5, name: 'ipClassOfService', slot: Slot.Tos, maps: 'attributes["netflow.tos"]' },
  { id: 6, name: 'tcpControlBits', slot: Slot.TcpFlags, maps: 'attributes["netflow.tcp_flags"]' },
  { id: 7, name: 'sourceTransportPort', slot: Slot.SrcPort, maps: 'src.port' },
  { id: 8, name: 'sourceIPv4Address', slot: Slot.SrcV4, maps: 'src.address, attributes["network.type"]' },
  { id: 10, name: 'ingressInterface', slot: Slot.InputIf, maps: 'attributes["netflow.input_interface"]' },
  { id: 11, name: 'destinationTransportPort', slot: Slot.DstPort, maps: 'dst.port' },
  { id: 12, name: 'destinationIPv4Address', slot: Slot.DstV4, maps: 'dst.address' },
  { id: 14, name: 'egressInterface', slot: Slot.OutputIf, maps: 'attributes["netflow.output_interface"]' },
  { id: 15, name: 'ipNextHopIPv4Address', slot: Slot.NextHopV4, maps: 'attributes["netflow.next_hop"]' },
  { id: 16, name: 'bgpSourceAsNumber', slot: Slot.SrcAs, maps: 'attributes["netflow.src_as"] (when not 0)' },
  { id: 17, name: 'bgpDestinationAsNumber', slot: Slot.DstAs, maps: 'attributes["netflow.dst_as"] (when not 0)' },
  { id: 21, name: 'flowEndSysUpTime', slot: Slot.EndUptime, maps: 'end, time' },
  { id: 22, name: 'flowStartSysUpTime', slot: Slot.StartUptime, maps: 'start' },
  { id: 27, name: 'sourceIPv6Address', slot: Slot.SrcV6, maps: 'src.address, attributes["network.type"]' },
  { id: 28, name: 'destinationIPv6Address', slot: Slot.DstV6, maps: 'dst.address' },
  { id: 32, name: 'icmpTypeCodeIPv4', slot: Slot.IcmpTypeCode, maps: 'attributes["netflow.icmp_type"], ["netflow.icmp_code"]' },
  { id: 34, name: 'samplingInterval', slot: Slot.SamplingInterval, maps: 'attributes["netflow.sampling_interval"]' },
  { id: 48, name: 'samplerId', slot: Slot.SamplerId, maps: 'looks up the sampler announced in options data' },
  { id: 50, name: 'samplerRandomInterval', slot: Slot.SamplerRandomInterval, maps: 'sampling interval (options data)' },
  { id: 61, name: 'flowDirection', slot: Slot.Direction, maps: 'direction (0 ingress, 1 egress)' },
  { id: 62, name: 'ipNextHopIPv6Address', slot: Slot.NextHopV6, maps: 'attributes["netflow.next_hop"]' },
  { id: 85, name: 'octetTotalCount', slot: Slot.BytesTotal, maps: 'bytes (when no delta count)' },
  { id: 86, name: 'packetTotalCount', slot: Slot.PacketsTotal, maps: 'packets (when no delta count)' },
  { id: 89, name: 'forwardingStatus', slot: Slot.ForwardingStatus, maps: 'action (forwarded/consumed → accept, dropped → reject)' },
  { id: 136, name: 'flowEndReason', slot: Slot.FlowEndReason, maps: 'attributes["netflow.flow_end_reason"]' },
  { id: 139, name: 'icmpTypeCodeIPv6', slot: Slot.IcmpTypeCodeV6, maps: 'attributes["netflow.icmp_type"], ["netflow.icmp_code"]' },
  { id: 150, name: 'flowStartSeconds', slot: Slot.StartSeconds, maps: 'start' },
  { id: 151, name: 'flowEndSeconds', slot: Slot.EndSeconds, maps: 'end, time' },
  { id: 152, name: 'flowStartMilliseconds', slot: Slot.StartMillis, maps: 'start' },
  { id: 153, name: 'flowEndMilliseconds', slot: Slot.EndMillis, maps: 'end, time' },
  { id: 154, name: 'flowStartMicroseconds', slot: Slot.StartMicros, maps: 'start' },
  { id: 155, name: 'flowEndMicroseconds', slot: Slot.EndMicros, maps: 'end, time' },
  { id: 156, name: 'flowStartNanoseconds', slot: Slot.StartNanos, maps: 'start' },
  { id: 157, name: 'flowEndNanoseconds', slot: Slot.EndNanos, maps: 'end, time' },
  { id: 158, name: 'flowStartDeltaMicroseconds', slot: Slot.StartDeltaMicros, maps: 'start (export time minus delta)' },
  { id: 159, name: 'flowEndDeltaMicroseconds', slot: Slot.EndDeltaMicros, maps: 'end, time (export time minus delta)' },
  { id: 160, name: 'systemInitTimeMilliseconds', slot: Slot.SystemInit, maps: 'base of flowStart/EndSysUpTime (record or options data)' },
  { id: 231, name: 'initiatorOctets', slot: Slot.InitiatorBytes, maps: 'bytes (when no delta/total count)' },
  { id: 232, name: 'responderOctets', slot: Slot.ResponderBytes, maps: 'reverseBytes' },
  { id: 298, name: 'initiatorPackets', slot: Slot.InitiatorPackets, maps: 'packets (when no delta/total count)' },
  { id: 299, name: 'responderPackets', slot: Slot.ResponderPackets, maps: 'reversePackets' },
  { id: 302, name: 'selectorId', slot: Slot.SamplerId, maps: 'looks up the selector announced in options data' },
  { id: 305, name: 'samplingPacketInterval', slot: Slot.SamplingPacketInterval, maps: 'sampling interval = (interval + space) / interval' },
  { id: 306, name: 'samplingPacketSpace', slot: Slot.SamplingPacketSpace, maps: 'sampling interval (with samplingPacketInterval)' },
];

/** RFC 5103 reverse elements (enterprise 29305), by the id of the forward element. */
export const REVERSE_ELEMENTS: readonly ElementInfo[] = [
  { id: 1, name: 'reverseOctetDeltaCount', slot: Slot.ReverseBytes, maps: 'reverseBytes' },
  { id: 2, name: 'reversePacketDeltaCount', slot: Slot.ReversePackets, maps: 'reversePackets' },
  { id: 85, name: 'reverseOctetTotalCount', slot: Slot.ReverseBytesTotal, maps: 'reverseBytes (when no delta count)' },
  { id: 86, name: 'reversePacketTotalCount', slot: Slot.ReversePacketsTotal, maps: 'reversePackets (when no delta count)' },
];

const IANA_SLOTS = new Map<number, Slot>(ELEMENTS.map((e) => [e.id, e.slot]));
const REVERSE_SLOTS = new Map<number, Slot>(REVERSE_ELEMENTS.map((e) => [e.id, e.slot]));

/** Extra names used only for `raw` output (elements the event does not map). */
const OTHER_NAMES: Record<number, string> = {
  9: 'sourceIPv4PrefixLength',
  13: 'destinationIPv4PrefixLength',
  18: 'bgpNextHopIPv4Address',
  23: 'postOctetDeltaCount',
  24: 'postPacketDeltaCount',
  29: 'sourceIPv6PrefixLength',
  30: 'destinationIPv6PrefixLength',
  31: 'flowLabelIPv6',
  35: 'samplingAlgorithm',
  36: 'flowActiveTimeout',
  37: 'flowIdleTimeout',
  38: 'engineType',
  39: 'engineId',
  49: 'samplerMode',
  56: 'sourceMacAddress',
  57: 'postDestinationMacAddress',
  58: 'vlanId',
  60: 'ipVersion',
  80: 'destinationMacAddress',
  82: 'interfaceName',
  83: 'interfaceDescription',
  130: 'exporterIPv4Address',
  131: 'exporterIPv6Address',
  143: 'meteringProcessId',
  144: 'exportingProcessId',
  148: 'flowId',
  176: 'icmpTypeIPv4',
  177: 'icmpCodeIPv4',
  239: 'biflowDirection',
  304: 'selectorAlgorithm',
};

const NAMES = new Map<number, string>([
  ...Object.entries(OTHER_NAMES).map(([k, v]) => [Number(k), v] as [number, string]),
  ...ELEMENTS.map((e) => [e.id, e.name] as [number, string]),
]);

/** Slot for an element, given its enterprise number (0 for IANA). */
export function slotFor(id: number, pen: number): Slot {
  if (pen === 0) return IANA_SLOTS.get(id) ?? Slot.Skip;
  if (pen === REVERSE_PEN) return REVERSE_SLOTS.get(id) ?? Slot.Skip;
  return Slot.Skip;
}

/** Name of an element for `raw` output: the IANA name, `reverse<Name>` for RFC 5103, `<pen>.<id>` otherwise. */
export function elementName(id: number, pen: number): string {
  if (pen === 0) return NAMES.get(id) ?? `ie${id}`;
  if (pen === REVERSE_PEN) {
    const forward = NAMES.get(id);
    return forward ? `reverse${forward[0]?.toUpperCase()}${forward.slice(1)}` : `reverse.ie${id}`;
  }
  return `${pen}.${id}`;
}

/** NetFlow v9 options scope field types (RFC 3954 §6.1), which reuse the numbers 1-5. */
export const V9_SCOPE_NAMES: Record<number, string> = { 1: 'scopeSystem', 2: 'scopeInterface', 3: 'scopeLineCard', 4: 'scopeCache', 5: 'scopeTemplate' };
