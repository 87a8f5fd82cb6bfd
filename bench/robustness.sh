#!/usr/bin/env bash
# Robustness figures of one weir binary (issue 10): what idle connections cost, whether a slow
# reader makes weir buffer, and what an HTTP/2 rapid-reset flood (CVE-2023-44487) costs:
#
#   WEIR_BIN=path/to/weir bench/robustness.sh [--rounds N] [--conns N] [--big-mib N]
#                                             [--flood-seconds S] [--out DIR]
#
# Each round starts a fresh weir for each measurement (RSS and VmHWM are per process), proxying
# the classic API /bench/ (listen path stripped) to an nginx origin:
#   idle   after a 2 s settle, weir's VmRSS; then --conns (default 1000) connections opened one
#          after another, and weir's VmRSS 2 s after the last; (after − before) / --conns, KiB.
#          Two kinds, each on its own weir: keep-alive (each completes one HTTP/1.1 GET /bench/,
#          then sits idle) and silent (connects, sends nothing). Measured ~3 s after the first
#          connection: weir's deadlines (the hardened build closes a connection without a
#          request head after read_timeout, default 30 s, and an idle one after read_timeout /
#          idle_timeout) come later; the client checks that none was closed when it measured.
#   slow   one client fetches a --big-mib (default 64) MiB file through weir with SO_RCVBUF
#          64 KiB, reading 64 KiB every 10 ms (~5 MB/s); weir's VmHWM at the end minus its
#          VmRSS before the request, MiB. A proxy that buffers the body grows by ~--big-mib.
#          Reference: the same with a client that reads as fast as it can (fresh weir).
#   flood  HTTP/2 rapid reset (CVE-2023-44487), h2c prior knowledge: the client writes HEADERS
#          (GET /bench/, END_STREAM) + RST_STREAM(CANCEL) on odd stream ids, 64 pairs per write,
#          as fast as weir takes them, answers SETTINGS/PING, and records GOAWAY (code, last
#          stream id, time) and the close (then reads 2 s more, if weir had not closed).
#          First one connection for up to --flood-seconds (default 10), as issue 10 asks; then
#          a flood that opens a new connection each time weir closes one, for --flood-seconds,
#          with one curl --http2-prior-knowledge GET /bench/ halfway and one after it (the
#          legitimate client). weir's CPU (utime+stime) over each; streams weir read = those up
#          to the GOAWAY's last stream id; requests the origin saw (its stub_status).
# The client is a Python 3 stdlib program written to the run's conf/ directory.
#
# Pinning as bench/run.sh: weir on CPU 1 (a single-threaded runtime); origin and clients on
# CPU 0. Ports picked free at run time; everything started here is stopped on exit. Prints
# markdown rows "| metric | median (round 1 / 2 / ...) |" for the binary on stdout; raw
# outputs go to --out (default bench/results/robustness-<UTC stamp>/).
# Tools: nginx (bench/install.sh), python3, curl, taskset, ss.
set -euo pipefail

ROUNDS=3
CONNS=1000
BIG_MIB=64
FLOOD_SECONDS=10
OUT=""
INVOCATION="bench/robustness.sh $*"
INVOCATION=${INVOCATION% }

usage() { sed -n '2,36p' "$0" | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
    case $1 in
        --rounds) ROUNDS=$2; shift 2 ;;
        --conns) CONNS=$2; shift 2 ;;
        --big-mib) BIG_MIB=$2; shift 2 ;;
        --flood-seconds) FLOOD_SECONDS=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "robustness.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done
positive() { [[ $2 =~ ^[1-9][0-9]*$ ]] || { echo "robustness.sh: $1 must be a positive integer" >&2; exit 2; }; }
positive --rounds "$ROUNDS"
positive --conns "$CONNS"
positive --big-mib "$BIG_MIB"
positive --flood-seconds "$FLOOD_SECONDS"

die() { echo "robustness.sh: error: $*" >&2; exit 1; }
log() { echo "robustness.sh: $*" >&2; }

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${OUT:-$REPO/bench/results/robustness-$STAMP}
mkdir -p "$OUT"/{conf,raw,logs,origin/www,weir/apps}

# ---------------------------------------------------------------- tools
missing=()
for tool in python3 curl taskset ss awk sort truncate; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
[[ ${#missing[@]} -eq 0 ]] || die "missing tools: ${missing[*]} (bench/install.sh installs nginx)"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
taskset -c 1 true 2>/dev/null || die "cannot pin to CPU 1: this benchmark needs at least 2 CPUs"
CLK_TCK=$(getconf CLK_TCK)
WEIR_BIN=${WEIR_BIN:-${CARGO_TARGET_DIR:-$REPO/target}/release/weir}
[[ -x $WEIR_BIN ]] || die "weir binary not found at $WEIR_BIN (set WEIR_BIN)"
LABEL=$(basename "$WEIR_BIN")

# --conns client sockets and as many in weir (plus its upstream pool): raise the soft limit.
NEED_FDS=$((4 * CONNS + 1024))
if [[ $(ulimit -n) != unlimited && $(ulimit -n) -lt $NEED_FDS ]]; then
    ulimit -n "$NEED_FDS" 2>/dev/null || ulimit -n "$(ulimit -Hn)" ||
        die "cannot raise the open-file limit to $NEED_FDS (hard limit $(ulimit -Hn))"
    [[ $(ulimit -n) == unlimited || $(ulimit -n) -ge $NEED_FDS ]] ||
        die "open-file limit $(ulimit -n) is below the $NEED_FDS this run needs"
fi

# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC1091  # followed with shellcheck -x
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# lib.sh's cleanup stops the children (and exits with the script's status); the big file goes
# too (it is sparse, but still).
cleanup_all() {
    local rc=$?
    rm -f "$OUT/origin/www/big.bin"
    (exit "$rc")
    cleanup
}
trap cleanup_all EXIT

# ---------------------------------------------------------------- the client
cat >"$OUT/conf/client.py" <<'PY'
"""bench/robustness.sh's client: idle connections, a slow reader, an HTTP/2 rapid-reset flood.
Python 3 standard library only; prints one JSON object."""
import argparse
import collections
import json
import selectors
import socket
import struct
import time


def vm(pid):
    """VmRSS and VmHWM of a process, KiB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


def read_response(s):
    """One HTTP/1.1 response with a Content-Length body; returns its status code."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise EOFError("connection closed before a response head")
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length = 0
    for line in lines[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = s.recv(65536)
        if not chunk:
            raise EOFError("connection closed in a response body")
        body += chunk
    return int(lines[0].split()[1])


def closed(socks):
    """How many of the sockets the peer has closed (EOF or reset) by now."""
    n = 0
    for s in socks:
        s.setblocking(False)
        try:
            if s.recv(1) == b"":
                n += 1
        except BlockingIOError:
            pass
        except OSError:
            n += 1
    return n


def idle(a):
    """--n connections, each keep-alive after one request (--kind keepalive) or silent."""
    addr = ("127.0.0.1", a.port)
    req = f"GET {a.path} HTTP/1.1\r\nHost: 127.0.0.1:{a.port}\r\n\r\n".encode()
    time.sleep(a.settle)
    rss0 = vm(a.pid)["VmRSS"]
    t0 = time.monotonic()
    socks, not_200 = [], 0
    for _ in range(a.n):
        s = socket.create_connection(addr)
        if a.kind == "keepalive":
            s.sendall(req)
            if read_response(s) != 200:
                not_200 += 1
        socks.append(s)
    opened = time.monotonic() - t0
    time.sleep(a.settle)
    rss1 = vm(a.pid)["VmRSS"]
    result = {
        "kind": a.kind, "rss_start_kib": rss0, "rss_end_kib": rss1, "kib_per_conn": (rss1 - rss0) / a.n,
        "opened_in_s": round(opened, 2), "measured_after_s": round(time.monotonic() - t0, 2),
        "not_200": not_200, "closed": closed(socks),
    }
    for s in socks:
        s.close()
    return result


def slow(a):
    before = vm(a.pid)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if a.rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, a.rcvbuf)  # before connect: the window
    s.connect(("127.0.0.1", a.port))
    s.sendall(f"GET {a.path} HTTP/1.1\r\nHost: 127.0.0.1:{a.port}\r\n\r\n".encode())
    t0 = time.monotonic()
    head, status, length, body = b"", None, None, 0
    rss_max, next_sample = before["VmRSS"], 0.0
    while length is None or body < length:
        chunk = s.recv(a.chunk)
        if not chunk:
            break
        if status is None:
            head += chunk
            if b"\r\n\r\n" in head:
                head, _, rest = head.partition(b"\r\n\r\n")
                lines = head.split(b"\r\n")
                status = int(lines[0].split()[1])
                length = 0
                for line in lines[1:]:
                    key, _, value = line.partition(b":")
                    if key.strip().lower() == b"content-length":
                        length = int(value)
                body = len(rest)
        else:
            body += len(chunk)
        now = time.monotonic()
        if now >= next_sample:
            rss_max = max(rss_max, vm(a.pid)["VmRSS"])
            next_sample = now + 0.1
        if a.interval:
            time.sleep(a.interval)
    seconds = time.monotonic() - t0
    s.close()
    after = vm(a.pid)
    return {
        "status": status, "content_length": length, "body_bytes": body, "seconds": round(seconds, 2),
        "rss_start_kib": before["VmRSS"], "hwm_start_kib": before["VmHWM"],
        "hwm_end_kib": after["VmHWM"], "rss_max_sampled_kib": rss_max,
        "peak_growth_mib": (after["VmHWM"] - before["VmRSS"]) / 1024,
    }


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY = 0x0, 0x1, 0x3, 0x4, 0x6, 0x7
CODES = {0: "NO_ERROR", 1: "PROTOCOL_ERROR", 2: "INTERNAL_ERROR", 7: "REFUSED_STREAM",
         8: "CANCEL", 11: "ENHANCE_YOUR_CALM"}


def flood_connection(a, deadline):
    """One h2c connection: HEADERS + RST_STREAM(CANCEL) pairs until the deadline or the server
    closes; then up to --tail seconds more of reading, for a GOAWAY and the close."""
    path, authority = a.path.encode(), f"127.0.0.1:{a.port}".encode()
    # HPACK, no Huffman, nothing indexed by the server: :method GET (static 2), :scheme http
    # (static 6), :path literal with name index 4, :authority literal with name index 1.
    block = b"\x82\x86\x04" + bytes([len(path)]) + path + b"\x01" + bytes([len(authority)]) + authority
    headers_head = struct.pack(">I", len(block))[1:] + bytes([HEADERS, 0x5])  # END_STREAM|END_HEADERS
    rst_head = b"\x00\x00\x04" + bytes([RST_STREAM, 0])
    cancel = struct.pack(">I", 8)
    pair = 9 + len(block) + 9 + 4

    s = socket.create_connection(("127.0.0.1", a.port))
    s.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
    # Preface, empty SETTINGS, and the connection window opened wide so that responses the
    # server still sends never stall on it. Segments: [bytes left, pairs in it, its size].
    out = collections.deque([[memoryview(
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(SETTINGS, 0, 0)
        + frame(0x8, 0, 0, struct.pack(">I", 2**31 - 1 - 65535))), 0, 0]])
    control = []  # SETTINGS / PING acks, sent between batches
    inbuf = bytearray()
    r = {"streams_written": 0, "flood_s": None, "goaway_s": None, "goaway_code": None,
         "goaway_last_stream": None, "goaway_debug": None, "closed_s": None, "closed_how": None,
         "response_headers": 0, "data_bytes": 0, "rst_from_server": 0, "send_error": None}
    stream, writing, reading = 1, True, True
    start = time.monotonic()
    tail_end = None

    def stop_writing():
        nonlocal writing, tail_end
        writing = False
        now = time.monotonic()
        r["flood_s"] = round(now - start, 4)
        tail_end = now + a.tail
        if reading:
            sel.modify(s, selectors.EVENT_READ)

    while reading:
        if writing and time.monotonic() >= deadline:
            stop_writing()
        if not writing and time.monotonic() >= tail_end:
            break
        for _, mask in sel.select(timeout=0.05):
            if mask & selectors.EVENT_READ:
                try:
                    data = s.recv(1 << 18)
                except BlockingIOError:
                    data = None
                except OSError:
                    data, r["closed_how"] = b"", "reset"
                if data == b"":
                    reading = False
                    r["closed_s"] = round(time.monotonic() - start, 4)
                    r["closed_how"] = r["closed_how"] or "eof"
                    sel.unregister(s)
                    if writing:
                        stop_writing()
                    break
                if data:
                    inbuf += data
                    at = 0
                    while len(inbuf) - at >= 9:
                        length = int.from_bytes(inbuf[at:at + 3], "big")
                        if len(inbuf) - at < 9 + length:
                            break
                        kind, flags = inbuf[at + 3], inbuf[at + 4]
                        payload = bytes(inbuf[at + 9:at + 9 + length])
                        at += 9 + length
                        if kind == HEADERS:
                            r["response_headers"] += 1
                        elif kind == DATA:
                            r["data_bytes"] += length
                        elif kind == RST_STREAM:
                            r["rst_from_server"] += 1
                        elif kind == SETTINGS and not flags & 1:
                            control.append(frame(SETTINGS, 1, 0))
                        elif kind == PING and not flags & 1:
                            control.append(frame(PING, 1, 0, payload))
                        elif kind == GOAWAY and r["goaway_s"] is None:
                            last, code = struct.unpack(">II", payload[:8])
                            r["goaway_s"] = round(time.monotonic() - start, 4)
                            r["goaway_last_stream"] = last & 0x7FFFFFFF
                            r["goaway_code"] = CODES.get(code, str(code))
                            r["goaway_debug"] = payload[8:].decode("utf-8", "replace")
                    del inbuf[:at]
            if mask & selectors.EVENT_WRITE and writing:
                if not out:
                    if control:
                        out.append([memoryview(b"".join(control)), 0, 0])
                        control.clear()
                    batch = []
                    for _ in range(a.batch):
                        sid = struct.pack(">I", stream)
                        batch += (headers_head, sid, block, rst_head, sid, cancel)
                        stream += 2
                    data = b"".join(batch)
                    out.append([memoryview(data), a.batch, len(data)])
                try:
                    n = s.send(out[0][0])
                except BlockingIOError:
                    n = 0
                except OSError as e:
                    r["send_error"] = e.__class__.__name__
                    stop_writing()
                    continue
                if n == len(out[0][0]):
                    r["streams_written"] += out[0][1]
                    out.popleft()
                elif n:
                    out[0][0] = out[0][0][n:]
    # A batch cut off by the end: count its whole pairs that went out.
    if out and out[0][1]:
        r["streams_written"] += (out[0][2] - len(out[0][0])) // pair
    s.close()
    # The streams the server read: up to the GOAWAY's last stream id, else all written.
    r["streams_read"] = r["streams_written"]
    if r["goaway_last_stream"] is not None:
        r["streams_read"] = min(r["streams_written"], (r["goaway_last_stream"] + 1) // 2)
    return r


def flood(a):
    """One connection flooded for --duration (with --reconnect: a new one each time the
    server closes the last, until --duration is over)."""
    start = time.monotonic()
    deadline = start + a.duration
    conns = []
    while True:
        began = time.monotonic() - start
        c = flood_connection(a, deadline)
        c["began_s"] = round(began, 4)
        conns.append(c)
        if not a.reconnect or time.monotonic() >= deadline:
            break
    flood_s = max(c["began_s"] + (c["flood_s"] or 0) for c in conns)
    lifetimes = sorted(c["closed_s"] for c in conns if c["closed_s"] is not None)
    first = conns[0]
    return {
        "connections": len(conns), "flood_s": round(flood_s, 4),
        "streams_written": sum(c["streams_written"] for c in conns),
        "streams_read": sum(c["streams_read"] for c in conns),
        "goaways": sum(c["goaway_s"] is not None for c in conns),
        "goaway_codes": sorted({f'{c["goaway_code"]} {c["goaway_debug"]}'.strip()
                                for c in conns if c["goaway_code"] is not None}),
        "closed_by_server": len(lifetimes),
        "median_closed_s": lifetimes[len(lifetimes) // 2] if lifetimes else None,
        "response_headers": sum(c["response_headers"] for c in conns),
        "first": first,
    }


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["idle", "slow", "flood"])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--pid", type=int)
    p.add_argument("--path", default="/bench/")
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--settle", type=float, default=2.0)
    p.add_argument("--rcvbuf", type=int, default=65536)
    p.add_argument("--chunk", type=int, default=65536)
    p.add_argument("--interval", type=float, default=0.01)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--tail", type=float, default=2.0)
    p.add_argument("--kind", choices=["keepalive", "silent"], default="keepalive")
    p.add_argument("--reconnect", action="store_true")
    a = p.parse_args()
    print(json.dumps({"idle": idle, "slow": slow, "flood": flood}[a.mode](a)))


main()
PY

# jget FILE KEY: a field of the client's JSON output ("null" when absent).
jget() {
    python3 -c 'import json, sys
v = json.load(open(sys.argv[1])).get(sys.argv[2])
print("null" if v is None else v)' "$1" "$2"
}

# ---------------------------------------------------------------- origin
free_port; ORIGIN_PORT=$PORT
free_port; WEIR_PORT=$PORT
truncate -s "${BIG_MIB}M" "$OUT/origin/www/big.bin"

cat >"$OUT/conf/origin.conf" <<EOF
worker_processes 1;
daemon off;
user root;
pid $OUT/origin/nginx.pid;
error_log $OUT/logs/origin-error.log warn;
events { worker_connections 8192; }
http {
    access_log off;
    client_body_temp_path $OUT/origin/body;
    proxy_temp_path $OUT/origin/proxy;
    fastcgi_temp_path $OUT/origin/fastcgi;
    uwsgi_temp_path $OUT/origin/uwsgi;
    scgi_temp_path $OUT/origin/scgi;
    keepalive_timeout 300s;
    keepalive_requests 100000000;
    default_type text/plain;
    sendfile on;
    server {
        listen 127.0.0.1:$ORIGIN_PORT;
        location / { return 200 "hello world\n"; }
        location = /big.bin { root $OUT/origin/www; default_type application/octet-stream; }
        # Requests the origin has handled: the flood's forwarded streams (asked directly, not via weir).
        location = /__status { stub_status; }
    }
}
EOF
"$NGINX" -t -q -c "$OUT/conf/origin.conf" -e "$OUT/logs/origin-error.log" || die "origin nginx config invalid"
log "starting origin nginx on :$ORIGIN_PORT (CPU 0)"
taskset -c 0 "$NGINX" -c "$OUT/conf/origin.conf" -e "$OUT/logs/origin-error.log" \
    >"$OUT/logs/origin.out" 2>&1 &
ORIGIN_PID=$!
PIDS+=("$ORIGIN_PID")
wait_until "origin nginx" "$ORIGIN_PID" 10 curl -fsS "http://127.0.0.1:$ORIGIN_PORT/" ||
    die "origin nginx did not start; see $OUT/logs"

origin_requests() {
    curl -fsS "http://127.0.0.1:$ORIGIN_PORT/__status" | awk 'NR == 3 {print $3}'
}

# ---------------------------------------------------------------- weir
# weir: access log off, default connection settings (read_timeout, idle_timeout, HTTP/2 pings:
# whatever the binary's defaults are); h2c prior knowledge is accepted without a setting.
cat >"$OUT/weir/weir.json" <<EOF
{
  "listen_address": "127.0.0.1",
  "listen_port": $WEIR_PORT,
  "secret": "bench",
  "app_path": "apps",
  "access_logs": { "enabled": false }
}
EOF
cat >"$OUT/weir/apps/bench.json" <<EOF
{"api_id":"bench","name":"bench","org_id":"1","use_keyless":true,"active":true,
 "proxy":{"listen_path":"/bench/","target_url":"http://127.0.0.1:$ORIGIN_PORT","strip_listen_path":true},
 "version_data":{"not_versioned":true,"versions":{"Default":{"name":"Default"}}}}
EOF
cp "$OUT/weir/weir.json" "$OUT/weir/apps/bench.json" "$OUT/conf/"

WEIR_PID=""
start_weir() { # NAME (for the log files)
    (cd "$OUT/weir" && exec taskset -c 1 "$WEIR_BIN" run --conf weir.json) \
        >"$OUT/logs/weir-$1.out" 2>"$OUT/logs/weir-$1.err" &
    WEIR_PID=$!
    PIDS+=("$WEIR_PID")
    wait_until "weir" "$WEIR_PID" 10 curl -fsS "http://127.0.0.1:$WEIR_PORT/hello" ||
        die "weir did not start; see $OUT/logs/weir-$1.err"
    [[ $(curl -fsS "http://127.0.0.1:$WEIR_PORT/bench/") == "hello world" ]] ||
        die "weir does not proxy /bench/ to the origin"
}
stop_weir() {
    local i
    kill -TERM "$WEIR_PID" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do kill -0 "$WEIR_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$WEIR_PID" 2>/dev/null || true
    wait "$WEIR_PID" 2>/dev/null || true
    PIDS=("$ORIGIN_PID")
    WEIR_PID=""
}

client() { taskset -c 0 python3 "$OUT/conf/client.py" "$@"; }

# ---------------------------------------------------------------- measuring
RESULTS=$OUT/results.tsv
printf 'round\tmetric\tvalue\n' >"$RESULTS"
record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RESULTS"; }
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "$LABEL: $ROUNDS rounds; $("$WEIR_BIN" version 2>/dev/null | head -n1 || echo 'weir version unknown')"

curl_h2() { # OUTFILE: one legitimate h2c GET /bench/ through weir, "STATUS SECONDS"
    curl -sS -o /dev/null -w '%{http_code} %{time_total}\n' --http2-prior-knowledge --max-time 5 \
        "http://127.0.0.1:$WEIR_PORT/bench/" >"$1" 2>&1 || true
}
cpu_s() { awk -v t="$1" -v hz="$CLK_TCK" 'BEGIN {printf "%.2f", t / hz}'; }
per_1k() { awk -v c="$1" -v n="$2" 'BEGIN {if (n > 0) printf "%.3f", c * 1000 / n * 1000; else print "nan"}'; }

for ((round = 1; round <= ROUNDS; round++)); do
    # Idle connections: keep-alive ones and silent ones, each kind on a fresh weir.
    for kind in keepalive silent; do
        start_weir "$kind-r$round"
        raw=$OUT/raw/idle-$kind-r$round.json
        client idle --kind "$kind" --port "$WEIR_PORT" --pid "$WEIR_PID" --n "$CONNS" >"$raw" ||
            die "idle client ($kind) failed (round $round)"
        stop_weir
        [[ $(jget "$raw" not_200) == 0 ]] || die "idle: some keep-alive requests were not answered 200: $(cat "$raw")"
        record "$round" "${kind}_kib_per_conn" "$(jget "$raw" kib_per_conn)"
        record "$round" "${kind}_closed" "$(jget "$raw" closed)"
        record "$round" "${kind}_measured_after_s" "$(jget "$raw" measured_after_s)"
        log "round $round idle $kind: $(cat "$raw")"
    done

    # A slow reader, then (the reference) a reader as fast as it can, each on a fresh weir.
    for kind in slow fast; do
        start_weir "$kind-r$round"
        raw=$OUT/raw/$kind-r$round.json
        if [[ $kind == slow ]]; then
            client slow --port "$WEIR_PORT" --pid "$WEIR_PID" --path /bench/big.bin >"$raw" ||
                die "slow-reader client failed (round $round)"
        else
            client slow --port "$WEIR_PORT" --pid "$WEIR_PID" --path /bench/big.bin --rcvbuf 0 \
                --chunk 1048576 --interval 0 >"$raw" || die "fast-reader client failed (round $round)"
        fi
        stop_weir
        [[ $(jget "$raw" status) == 200 && $(jget "$raw" body_bytes) == $((BIG_MIB << 20)) ]] ||
            die "$kind reader did not get the whole file: $(cat "$raw")"
        for k in peak_growth_mib seconds rss_start_kib hwm_start_kib hwm_end_kib rss_max_sampled_kib; do
            record "$round" "${kind}_$k" "$(jget "$raw" "$k")"
        done
        log "round $round $kind reader: $(cat "$raw")"
    done

    # Rapid reset: one connection as the issue asks, then a flood that reconnects whenever weir
    # closes the connection, for the whole --flood-seconds, with a legitimate GET halfway.
    start_weir "flood-r$round"
    raw=$OUT/raw/flood-one-r$round.json
    t0=$(cpu_ticks "$WEIR_PID")
    client flood --port "$WEIR_PORT" --duration "$FLOOD_SECONDS" >"$raw" ||
        die "flood client failed (round $round)"
    t1=$(cpu_ticks "$WEIR_PID")
    record "$round" one_streams_written "$(jget "$raw" streams_written)"
    record "$round" one_streams_read "$(jget "$raw" streams_read)"
    record "$round" one_flood_s "$(jget "$raw" flood_s)"
    record "$round" one_cpu_s "$(cpu_s "$((t1 - t0))")"
    python3 -c 'import json, sys
f = json.load(open(sys.argv[1]))["first"]
print("goaway", f["goaway_code"], f["goaway_debug"], "at", f["goaway_s"], "s, last stream", f["goaway_last_stream"])
print("closed", f["closed_how"], "at", f["closed_s"], "s")' "$raw" >"$OUT/raw/flood-one-r$round.summary"
    record "$round" one_goaway "$(jget "$raw" goaway_codes | tr -d "[]'")"
    record "$round" one_goaway_s "$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["first"]["goaway_s"])' "$raw")"
    record "$round" one_closed_s "$(python3 -c 'import json, sys; f = json.load(open(sys.argv[1]))["first"]; print(f["closed_s"], f["closed_how"])' "$raw")"
    log "round $round flood, one connection: cpu $(cpu_s "$((t1 - t0))") s; $(cat "$raw")"

    raw=$OUT/raw/flood-reconnect-r$round.json
    during=$OUT/raw/flood-r$round.curl-during.txt
    after=$OUT/raw/flood-r$round.curl-after.txt
    requests_before=$(origin_requests)
    t0=$(cpu_ticks "$WEIR_PID")
    (sleep "$(awk -v d="$FLOOD_SECONDS" 'BEGIN {print d / 2}')" && curl_h2 "$during") &
    curl_pid=$!
    client flood --reconnect --port "$WEIR_PORT" --duration "$FLOOD_SECONDS" >"$raw" ||
        die "reconnecting flood client failed (round $round)"
    wait "$curl_pid" || true
    t1=$(cpu_ticks "$WEIR_PID")
    curl_h2 "$after"
    requests_after=$(origin_requests)
    stop_weir
    cpu=$(cpu_s "$((t1 - t0))")
    read_streams=$(jget "$raw" streams_read)
    record "$round" re_connections "$(jget "$raw" connections)"
    record "$round" re_streams_written "$(jget "$raw" streams_written)"
    record "$round" re_streams_read "$read_streams"
    record "$round" re_closed "$(jget "$raw" closed_by_server)"
    record "$round" re_goaway "$(jget "$raw" goaway_codes | tr -d "[]'")"
    record "$round" re_cpu_s "$cpu"
    record "$round" re_cpu_ms_per_1k "$(per_1k "$cpu" "$read_streams")"
    record "$round" re_cpu_us_per_conn "$(awk -v c="$cpu" -v n="$(jget "$raw" connections)" 'BEGIN {printf "%.1f", c * 1e6 / n}')"
    # Not the flood's: the second status request and the legitimate GETs that were answered.
    legit=$(cat "$during" "$after" | grep -c '^200 ' || true)
    record "$round" re_origin_requests "$((requests_after - requests_before - 1 - legit))"
    record "$round" curl_during "$(tr -d '\n' <"$during")"
    record "$round" curl_after "$(tr -d '\n' <"$after")"
    log "round $round flood, reconnecting: cpu $cpu s; $(cat "$raw"); curl during: $(cat "$during"); after: $(cat "$after")"
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- report
values() { awk -F'\t' -v m="$1" 'NR > 1 && $2 == m {print $3}' "$RESULTS"; }
median() { # METRIC → median over rounds (numeric)
    values "$1" | sort -g | awk '{v[NR] = $1} END {
        if (NR == 0) { print "nan"; exit }
        if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
per_round() { values "$1" | paste -sd/ | sed 's|/| / |g'; }
fmt() { awk -v v="$1" -v d="$2" 'BEGIN { if (v == "nan" || v == "null") print v; else printf "%.*f", d, v }'; }
row() { # LABEL METRIC DIGITS
    local r
    r=$(per_round "$2" | awk -v d="$3" -F' / ' '{for (i = 1; i <= NF; i++) {
        if ($i == "null" || $i == "nan") s = s sep $i; else s = s sep sprintf("%.*f", d, $i); sep = " / "} print s}')
    echo "| $1 | $(fmt "$(median "$2")" "$3") ($r) |"
}
text_row() { echo "| $1 | $(per_round "$2") |"; }

{
    echo "Run: \`WEIR_BIN=$WEIR_BIN $INVOCATION\` on $(date -u '+%Y-%m-%d %H:%M UTC');"
    echo "load average at start $LOAD_START, at end $LOAD_END; raw outputs in $OUT."
    echo
    echo "| metric | $LABEL: median (per round) |"
    echo "| --- | --- |"
    row "RSS per idle keep-alive HTTP/1.1 connection (one request done), KiB" keepalive_kib_per_conn 2
    row "RSS per silent connection (nothing sent), KiB" silent_kib_per_conn 2
    text_row "keep-alive connections weir had closed when measured" keepalive_closed
    text_row "silent connections weir had closed when measured" silent_closed
    text_row "measured after the first connection, s (keep-alive)" keepalive_measured_after_s
    row "slow reader, ${BIG_MIB} MiB: VmHWM − starting VmRSS, MiB" slow_peak_growth_mib 2
    row "slow reader: seconds to read the file" slow_seconds 1
    row "fast reader (the reference), ${BIG_MIB} MiB: VmHWM − starting VmRSS, MiB" fast_peak_growth_mib 2
    row "rapid reset, one connection: streams written before the close" one_streams_written 0
    row "rapid reset, one connection: streams weir read (GOAWAY last stream id)" one_streams_read 0
    text_row "rapid reset, one connection: GOAWAY" one_goaway
    text_row "rapid reset, one connection: GOAWAY at, s" one_goaway_s
    text_row "rapid reset, one connection: closed at, s" one_closed_s
    row "rapid reset, one connection: weir CPU-seconds" one_cpu_s 2
    row "rapid reset, reconnecting ${FLOOD_SECONDS} s: connections" re_connections 0
    row "rapid reset, reconnecting: connections weir closed" re_closed 0
    text_row "rapid reset, reconnecting: GOAWAY" re_goaway
    row "rapid reset, reconnecting: streams written" re_streams_written 0
    row "rapid reset, reconnecting: streams weir read" re_streams_read 0
    row "rapid reset, reconnecting: weir CPU-seconds" re_cpu_s 2
    row "rapid reset, reconnecting: weir CPU-ms per 1000 streams read" re_cpu_ms_per_1k 3
    row "rapid reset, reconnecting: weir CPU-µs per connection" re_cpu_us_per_conn 1
    row "rapid reset, reconnecting: requests forwarded to the origin" re_origin_requests 0
    text_row "legitimate h2c GET halfway through the flood (status, s)" curl_during
    text_row "legitimate h2c GET after the flood (status, s)" curl_after
} | tee "$OUT/rows.md"
