#!/usr/bin/env bash
# Scans a vncgate on loopback with Debian's testssl.sh and fails if any protocol older than
# TLS 1.2 is offered (or if TLS 1.2/1.3 is not).
#
# Installs nothing: needs `testssl` (apt-get install testssl.sh) and a built vncgate
# ($VNCGATE_BIN, else target/debug/vncgate; `cargo build -p gateway`).
#
#   gateway/scripts/testssl.sh            start a vncgate on 127.0.0.1, scan it, stop it
#   gateway/scripts/testssl.sh HOST:PORT  scan a vncgate that is already running
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
testssl="$(command -v testssl || command -v testssl.sh || true)"
if [[ -z "$testssl" ]]; then
    echo "testssl.sh is not installed: apt-get install testssl.sh" >&2
    exit 2
fi
command -v jq >/dev/null || { echo "jq is not installed: apt-get install jq" >&2; exit 2; }

work="$(mktemp -d)"
gate_pid=""
cleanup() {
    if [[ -n "$gate_pid" ]]; then kill "$gate_pid" 2>/dev/null || true; wait "$gate_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

if [[ $# -ge 1 ]]; then
    target="$1"
else
    bin="${VNCGATE_BIN:-$root/target/debug/vncgate}"
    [[ -x "$bin" ]] || { echo "$bin not found: cargo build -p gateway" >&2; exit 2; }
    "$bin" serve --listen 127.0.0.1:0 --state-dir "$work/state" 2>"$work/vncgate.log" &
    gate_pid=$!
    for _ in $(seq 100); do
        port="$(sed -n 's|^vncgate listening on https://127.0.0.1:\([0-9]*\)/$|\1|p' "$work/vncgate.log")"
        [[ -n "$port" ]] && break
        kill -0 "$gate_pid" 2>/dev/null || { cat "$work/vncgate.log" >&2; exit 1; }
        sleep 0.1
    done
    [[ -n "${port:-}" ]] || { echo "vncgate printed no 'listening on' line" >&2; cat "$work/vncgate.log" >&2; exit 1; }
    target="127.0.0.1:$port"
fi

version="$("$testssl" --version 2>&1 | sed 's/\x1b\[[0-9;]*m//g' | grep -m1 -Eo 'testssl(\.sh)? +[0-9][^ ]*' || true)"
echo "scanning $target with ${version:-testssl.sh}"
# --protocols and --server-defaults are what this check needs; --sneaky keeps the UA plain.
"$testssl" --quiet --color 0 --warnings off --sneaky --protocols --server-defaults \
    --jsonfile "$work/result.json" "$target" | sed -n '/Testing protocols/,$p' || true

[[ -s "$work/result.json" ]] || { echo "testssl.sh wrote no result" >&2; exit 1; }
fail=0
for id in SSLv2 SSLv3 TLS1 TLS1_1; do
    finding="$(jq -r --arg id "$id" '.[] | select(.id == $id) | .finding' "$work/result.json")"
    echo "$id: ${finding:-?}"
    if [[ "$finding" != "not offered"* ]]; then
        echo "FAIL: $id is offered (or could not be tested): $finding" >&2
        fail=1
    fi
done
for id in TLS1_2 TLS1_3; do
    finding="$(jq -r --arg id "$id" '.[] | select(.id == $id) | .finding' "$work/result.json")"
    echo "$id: ${finding:-?}"
    if [[ "$finding" != "offered"* ]]; then
        echo "FAIL: $id is not offered: $finding" >&2
        fail=1
    fi
done
if [[ $fail -eq 0 ]]; then echo "OK: only TLS 1.2 and 1.3 are offered"; fi
exit $fail
