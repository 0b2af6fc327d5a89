#!/usr/bin/env bash
# Re-record the softflowd fixtures in testdata/softflowd/ from testdata/softflowd/traffic.pcap.
# Needs Debian's softflowd (1.1.0) and node. Traffic goes to 127.0.0.1 only.
#
# -D (debug) also tracks IPv6 flows and logs every expired flow, which we keep.
# softflowd 1.1.0 in `-r` (read pcap) mode only advances when its control socket
# wakes its poll loop, so we poke it with `softflowctl statistics` until it exits.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
pcap="traffic.pcap"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
port="${PORT:-39995}"

record() { # name, softflowd options...
  local name="$1"; shift
  local out="$here/testdata/softflowd/$name"
  rm -rf "$out"
  node "$here/scripts/capture-udp.mjs" "$port" "$out" 5000 &
  local cap=$!
  sleep 0.3
  (cd "$here/testdata/softflowd" && softflowd -r "$pcap" -n "127.0.0.1:$port" -D -p "$work/sf.pid" -c "$work/sf.ctl" "$@" >"$work/sf.log" 2>&1) &
  local sf=$!
  for _ in $(seq 1 100); do
    kill -0 "$sf" 2>/dev/null || break
    softflowctl -c "$work/sf.ctl" statistics >/dev/null 2>&1 || true
    sleep 0.2
  done
  wait "$sf" || true
  wait "$cap"
  # softflowd's own account of the flows it exported (pointer addresses stripped), for the cross-check test
  grep '^EXPIRED' "$work/sf.log" | sed 's/ (0x[0-9a-f]*)$//' >"$out/softflowd-expired.log"
}

record v5 -v 5
record v9 -v 9
record v9-sampled -v 9 -s 4
record ipfix -v 10
record ipfix-milli -v 10 -A milli
record ipfix-biflow -v 10 -b
