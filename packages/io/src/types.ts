/** A problem a transport reports instead of throwing: counted by the caller and usually dead-lettered. */
export interface TransportError {
  /** Short machine-readable reason: `record_too_large`, `read_failed`, `gzip_failed`, `datagram_too_large`, ... */
  reason: string;
  message: string;
  /** The raw bytes concerned (a prefix when they were large). */
  raw?: string | Uint8Array;
  /** `path:line`, `path`, `udp://address:port`. */
  location?: string;
}
