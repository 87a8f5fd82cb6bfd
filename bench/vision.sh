#!/usr/bin/env bash
# Vision pipeline benchmark: simulated cameras → vision-processor (gRPC) → weir + the native
# enricher (examples/vision/enricher, SQLite registry, cached) → gRPC clients:
#
#   bench/vision.sh [--rounds N] [--cameras N] [--fps F] [--warmup SECS] [--duration SECS]
#                   [--ttl SECS] [--no-cache-ttl SECS] [--width PX] [--height PX]
#                   [--no-build] [--no-markdown]
#
# Two variants, each run in every round with a fresh weir (a cold enricher cache):
#   cache     cache_ttl_seconds = --ttl (default 30, the seed's)
#   no-cache  cache_ttl_seconds = --no-cache-ttl (default 0.001; the enricher refuses 0, so a
#             1 ms TTL stands for "no cache": every event past 1 ms starts a refresh lookup)
# Per measurement: one `load` (bench/vision-stream, tonic, one HTTP/2 connection) opens one
# StreamDetections call per camera (stream i asks for cam-i) through weir, reads --warmup
# seconds (default 5, fills the cache) and then counts --duration seconds (default 20):
# camera-to-client latency (receive time − the event's timestamp_ms, the capture time in ms,
# so the processor's detection time is included) p50/p99, weir's CPU (utime+stime of
# /proc/<pid>/stat) per 1,000 messages and db_queries/s from weir's /metrics
# (weir_plugin_events_total{name="db_queries"}), both over the counted window only. Medians
# over --rounds (default 3). Frames are --width × --height (default 96 × 72, not the
# processor's 320 × 240: 100 cameras at 320 × 240 need ~3.4 cores of detection, more than this
# 2-core machine has).
#
# Pinning as bench/stream.sh: weir on CPU 1; processor and load on CPU 0. Ports picked free at
# run time; everything started is stopped on exit. Raw outputs go to
# bench/results/vision-<UTC stamp>/; the `<!-- bench:vision -->` section of BENCHMARKS.md is
# replaced (or appended), nothing else. Tools: taskset, ss, curl, python3; cargo unless --no-build.
set -euo pipefail

ROUNDS=3
CAMERAS=100
FPS=30
WARMUP=5
DURATION=20
TTL=30
NOCACHE_TTL=0.001
WIDTH=96
HEIGHT=72
BUILD=1
WRITE_MD=1
INVOCATION="bench/vision.sh $*"
INVOCATION=${INVOCATION% }

usage() { sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
    case $1 in
        --rounds) ROUNDS=$2; shift 2 ;;
        --cameras) CAMERAS=$2; shift 2 ;;
        --fps) FPS=$2; shift 2 ;;
        --warmup) WARMUP=$2; shift 2 ;;
        --duration) DURATION=$2; shift 2 ;;
        --ttl) TTL=$2; shift 2 ;;
        --no-cache-ttl) NOCACHE_TTL=$2; shift 2 ;;
        --width) WIDTH=$2; shift 2 ;;
        --height) HEIGHT=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --no-markdown) WRITE_MD=0; shift ;;
        -h | --help) usage; exit 0 ;;
        *) echo "vision.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done
positive() { [[ $2 =~ ^[1-9][0-9]*$ ]] || { echo "vision.sh: $1 must be a positive integer" >&2; exit 2; }; }
for a in ROUNDS CAMERAS FPS WARMUP DURATION WIDTH HEIGHT; do positive "--${a,,}" "${!a}"; done
[[ $CAMERAS -le 256 ]] || { echo "vision.sh: --cameras must be at most 256 (the processor's limit)" >&2; exit 2; }

die() { echo "vision.sh: error: $*" >&2; exit 1; }
log() { echo "vision.sh: $*" >&2; }

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=$REPO/bench
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=$BENCH_DIR/results/vision-$STAMP
mkdir -p "$OUT"/{conf,raw,logs}

missing=()
for tool in taskset curl ss awk sort python3; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
if [[ $BUILD -eq 1 ]]; then command -v cargo >/dev/null 2>&1 || missing+=(cargo); fi
[[ ${#missing[@]} -eq 0 ]] || die "missing tools: ${missing[*]}"
taskset -c 1 true 2>/dev/null || die "cannot pin to CPU 1: this benchmark needs at least 2 CPUs"
CLK_TCK=$(getconf CLK_TCK)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- build (as demo.sh)
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
WEIR_BIN=$TARGET/release/weir
PROC_BIN=$TARGET/vision-processor/release/vision-processor
ENRICHER=$TARGET/vision-enricher/release/libweir_vision_enricher.so
LOAD_BIN=${CARGO_TARGET_DIR:-$BENCH_DIR/vision-stream/target}/release/load
API_JSON=$REPO/examples/vision/apis/vision-api.json
if [[ $BUILD -eq 1 ]]; then
    log "building bench/vision-stream, weir, the processor and the enricher (release)"
    (cd "$BENCH_DIR/vision-stream" && cargo build --release --quiet) || die "build of bench/vision-stream failed"
    (cd "$REPO" && cargo build --release --quiet -p weir) || die "build of weir failed"
    cargo build --release --quiet --manifest-path "$REPO/examples/vision/processor/Cargo.toml" \
        --target-dir "$TARGET/vision-processor" || die "build of the processor failed"
    cargo build --release --quiet --manifest-path "$REPO/examples/vision/enricher/Cargo.toml" \
        --target-dir "$TARGET/vision-enricher" || die "build of the enricher failed"
fi
for f in "$WEIR_BIN" "$PROC_BIN" "$LOAD_BIN"; do [[ -x $f ]] || die "not built: $f"; done
[[ -f $ENRICHER ]] || die "not built: $ENRICHER"

# ---------------------------------------------------------------- processes
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

plugin_count() { # PORT NAME → weir_plugin_events_total{name=NAME} (0 when absent)
    curl -fsS "http://127.0.0.1:$1/metrics" |
        awk -v n="name=\"$2\"" '/^weir_plugin_events_total\{/ && index($0, n) {s += $NF} END {printf "%d\n", s}'
}

# The registry: one row per camera, ids as the processor names them.
DB=$OUT/registry.db
python3 - "$DB" "$CAMERAS" <<'EOF'
import sqlite3, sys
path, n = sys.argv[1], int(sys.argv[2])
width = max(2, len(str(n)))
db = sqlite3.connect(path)
db.execute("CREATE TABLE CameraRegistry (camera_id TEXT PRIMARY KEY, location TEXT, status TEXT, install_date TEXT)")
db.executemany("INSERT INTO CameraRegistry VALUES (?, ?, ?, ?)",
               [(f"cam-{i:0{width}d}", f"Site {i}", "active", "2023-04-01") for i in range(1, n + 1)])
db.commit()
EOF

# Run from a copy under $OUT: other work on a shared machine that stops "vision-processor"
# processes by name (seen while developing this) must not end the benchmark's.
cp "$PROC_BIN" "$OUT/vp-bench" && PROC_BIN=$OUT/vp-bench
log "starting the processor: $CAMERAS cameras × $FPS fps, ${WIDTH}×$HEIGHT (CPU 0)"
taskset -c 0 "$PROC_BIN" --listen 127.0.0.1:0 --cameras "$CAMERAS" --fps "$FPS" --width "$WIDTH" --height "$HEIGHT" \
    >"$OUT/logs/processor.out" 2>"$OUT/logs/processor.err" &
PROC_PID=$!
PIDS+=("$PROC_PID")
wait_until processor "$PROC_PID" 10 grep -q '^LISTENING' "$OUT/logs/processor.out" || die "the processor did not start"
PROC_ADDR=$(awk '/^LISTENING/ {print $2; exit}' "$OUT/logs/processor.out")
# Each camera's first activation fast-forwards 300 frames: do that once, unmeasured.
log "priming the cameras (first activation) directly at $PROC_ADDR"
taskset -c 0 "$LOAD_BIN" --target "http://$PROC_ADDR" --streams "$CAMERAS" --cameras "$CAMERAS" --millis \
    --warmup 3 --duration 2 >"$OUT/raw/prime.txt" 2>&1 || die "priming failed: $(tail -n1 "$OUT/raw/prime.txt")"

ttl_of() { [[ $1 == cache ]] && echo "$TTL" || echo "$NOCACHE_TTL"; }

start_weir() { # VARIANT ROUND → sets WEIR_PID, WEIR_PORT
    local v=$1 r=$2 dir=$OUT/weir-$1-r$2
    free_port; WEIR_PORT=$PORT
    mkdir -p "$dir/apps"
    python3 - "$API_JSON" "$dir/apps/vision-api.json" "$PROC_ADDR" "$ENRICHER" "$DB" "$(ttl_of "$v")" <<'EOF'
import json, sys
src, dst, addr, so, db, ttl = sys.argv[1:]
api = json.load(open(src))
api["proxy"]["target_url"] = f"grpc://{addr}"
mw = api["custom_middleware"]
for h in mw.get("pre") or []:
    h["path"] = so
for h in mw["driver_specific_middleware"]["goplugin_streams"]:
    h["path"] = so
conf = api["middleware_global_config"][api.get("custom_middleware_bundle") or "enricher_bundle"]
conf["sql_server_dsn"] = f"sqlite:{db}"
conf["cache_ttl_seconds"] = float(ttl)
json.dump(api, open(dst, "w"), indent=2)
EOF
    cat >"$dir/weir.json" <<EOF
{
  "listen_address": "127.0.0.1",
  "listen_port": $WEIR_PORT,
  "secret": "bench",
  "app_path": "apps",
  "http_server_options": { "enable_http2": true },
  "access_logs": { "enabled": false }
}
EOF
    [[ $r -eq 1 ]] && cp "$dir/apps/vision-api.json" "$OUT/conf/$v-api.json" && cp "$dir/weir.json" "$OUT/conf/weir.json"
    (cd "$dir" && "$WEIR_BIN" check --conf weir.json) >"$OUT/logs/$v-r$r-check.txt" 2>&1 ||
        die "weir check refused the $v API: $(head -n1 "$OUT/logs/$v-r$r-check.txt")"
    (cd "$dir" && exec taskset -c 1 "$WEIR_BIN" run --conf weir.json) >"$OUT/logs/$v-r$r.out" 2>"$OUT/logs/$v-r$r.err" &
    WEIR_PID=$!
    PIDS+=("$WEIR_PID")
    wait_until "weir ($v)" "$WEIR_PID" 20 curl -fsS "http://127.0.0.1:$WEIR_PORT/hello" ||
        die "weir ($v) did not start; see $OUT/logs/$v-r$r.err"
}
stop_weir() {
    kill -TERM "$WEIR_PID" 2>/dev/null || true
    wait "$WEIR_PID" 2>/dev/null || true
}

field() { awk -v k="$1" '{for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) print substr($i, length(k) + 2)}' <<<"$2"; }

RESULTS=$OUT/results.tsv
printf 'variant\tround\tmsgs_per_s\tp50_us\tp99_us\tmax_us\tweir_cpu_ms_per_1k\tdb_queries_per_s\tdb_queries_window\tdb_queries_round\tcache_miss_round\tenriched_pct\tmessages\n' >"$RESULTS"

wait_marker() { # PID FILE LINE SECONDS: until FILE has LINE; fails if PID ends first without it
    local i
    for ((i = 0; i < $4 * 20; i++)); do
        grep -qx "$3" "$2" && return 0
        kill -0 "$1" 2>/dev/null || { grep -qx "$3" "$2"; return; }
        sleep 0.05
    done
    return 1
}
measure() { # VARIANT ROUND
    local v=$1 r=$2 raw=$OUT/raw/$1-r$2 lp c0 c1 q0 q1 line i
    start_weir "$v" "$r"
    taskset -c 0 "$LOAD_BIN" --target "http://127.0.0.1:$WEIR_PORT" --streams "$CAMERAS" --cameras "$CAMERAS" \
        --millis --warmup "$WARMUP" --duration "$DURATION" --timeout $((WARMUP + DURATION + 60)) \
        >"$raw.txt" 2>"$raw.err" &
    lp=$!
    PIDS+=("$lp")
    wait_marker "$lp" "$raw.err" 'load: measuring' $((WARMUP + 30)) ||
        die "$v round $r: load failed before measuring: $(tail -n1 "$raw.err")"
    c0=$(cpu_ticks "$WEIR_PID"); q0=$(plugin_count "$WEIR_PORT" db_queries)
    wait_marker "$lp" "$raw.err" 'load: measured' $((DURATION + 30)) ||
        die "$v round $r: load failed while measuring: $(tail -n1 "$raw.err")"
    c1=$(cpu_ticks "$WEIR_PID"); q1=$(plugin_count "$WEIR_PORT" db_queries)
    wait "$lp" || die "$v round $r: load failed: $(tail -n1 "$raw.err")"
    curl -fsS "http://127.0.0.1:$WEIR_PORT/metrics" >"$raw.metrics" || true
    local qall miss
    qall=$(plugin_count "$WEIR_PORT" db_queries); miss=$(plugin_count "$WEIR_PORT" cache_miss)
    stop_weir
    line=$(grep '^streams=' "$raw.txt") || die "$v round $r: no result line"
    local n
    n=$(field messages "$line")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$v" "$r" "$(field msgs_per_s "$line")" \
        "$(field p50_us "$line")" "$(field p99_us "$line")" "$(field max_us "$line")" \
        "$(awk -v t=$((c1 - c0)) -v hz="$CLK_TCK" -v n="$n" 'BEGIN {printf "%.2f", t / hz * 1000 / n * 1000}')" \
        "$(awk -v q=$((q1 - q0)) -v d="$DURATION" 'BEGIN {printf "%.2f", q / d}')" $((q1 - q0)) "$qall" "$miss" \
        "$(awk -v e="$(field enriched "$line")" -v n="$n" 'BEGIN {printf "%.2f", 100 * e / n}')" "$n" >>"$RESULTS"
    log "$(tail -n1 "$RESULTS" | tr '\t' ' ')"
}

VARIANTS=(cache no-cache)
START_S=$SECONDS
for ((round = 1; round <= ROUNDS; round++)); do
    for ((i = 0; i < 2; i++)); do measure "${VARIANTS[(i + round - 1) % 2]}" "$round"; done
done
MEASURE_S=$((SECONDS - START_S))
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- report
col() { awk -F'\t' -v v="$1" -v c="$2" 'NR > 1 && $1 == v {print $c}' "$RESULTS"; }
median() { col "$1" "$2" | sort -g | awk '{v[NR] = $1} END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
rounds_of() { col "$1" "$2" | awk -v d="${3:-1}" -v p="${4:-0}" '{printf "%s%.*f", s, p, $1 / d; s = " / "}'; }
ms() { awk -v v="$1" 'BEGIN {printf "%.1f", v / 1000}'; }

P99_CACHE=$(median cache 5)
P99_MET=$(awk -v v="$P99_CACHE" 'BEGIN {print (v < 20000) ? "met" : "**missed**"}')
# ≤ 1 query per camera per TTL: over the whole round (warm-up + window, < one TTL of 30 s),
# at most one per camera per started TTL period.
PERIODS=$(awk -v t=$((WARMUP + DURATION)) -v ttl="$TTL" 'BEGIN {p = int(t / ttl); if (p * ttl < t) p++; print p}')
QMAX=$(col cache 10 | sort -g | tail -n1)
Q_MET=$(awk -v q="$QMAX" -v b=$((CAMERAS * PERIODS)) 'BEGIN {print (q <= b) ? "met" : "**missed**"}')
COMMIT=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -n $(git -C "$REPO" status --porcelain -- crates Cargo.toml Cargo.lock examples/vision 2>/dev/null) ]] &&
    COMMIT+=" (with uncommitted changes under crates/ or examples/vision/)"
CPU_MODEL=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)

section() {
    local v
    echo "## Vision pipeline: $CAMERAS cameras × $FPS fps → processor → weir + native enricher → gRPC clients"
    echo
    echo "Run: \`$INVOCATION\` on $(date -u '+%Y-%m-%d %H:%M UTC'), weir commit $COMMIT, release."
    echo "Machine: $(nproc) cores, shared with other work ($CPU_MODEL); load average (1/5/15 min) at"
    echo "start $LOAD_START, at end $LOAD_END. weir on CPU 1; processor and load client on CPU 0."
    echo "Medians over $ROUNDS rounds, each variant with a fresh weir per round; ${WARMUP} s warm-up"
    echo "(fills the cache), then ${DURATION} s measured. Measuring took ${MEASURE_S} s."
    echo "Raw outputs: bench/results/vision-$STAMP/ (git-ignored)."
    echo
    cat <<NOTE
- Cameras: \`vision-processor --cameras $CAMERAS --fps $FPS --width $WIDTH --height $HEIGHT\` (frames
  smaller than the default 320 × 240: 100 cameras at that size need ~3.4 cores of detection).
  Cameras were activated once before the rounds (their 300-frame fast-forward is not measured).
- weir: examples/vision/apis/vision-api.json (goplugin_streams HandleStream →
  libweir_vision_enricher.so), \`sql_server_dsn\` a SQLite file with $CAMERAS CameraRegistry rows;
  \`cache\`: \`cache_ttl_seconds\` $TTL; \`no-cache\`: $NOCACHE_TTL (the enricher refuses 0).
- Clients: **gRPC (tonic)**, bench/vision-stream \`load\`, one HTTP/2 connection, one
  StreamDetections call per camera. **Not gRPC-Web**: the issue's gRPC-Web (connect-web) clients
  are not measured here.
- Latency: client receive time − \`timestamp_ms\` (capture time, ms resolution), so it includes
  the processor's detection and both hops. CPU: weir's utime+stime over the window / messages.
  DB queries: \`weir_plugin_events_total{name="db_queries"}\` delta over the window / ${DURATION} s;
  "per round" counts from weir's start (warm-up included).
- Targets: p99 < 20 ms (cache: $P99_MET); DB queries ≤ 1 per camera per TTL, i.e. ≤
  $((CAMERAS * PERIODS)) per round of $((WARMUP + DURATION)) s with TTL $TTL s (cache, worst round $QMAX: $Q_MET).
NOTE
    echo
    echo '```'
    echo "taskset -c 0 bench/vision-stream/target/release/load --target http://127.0.0.1:WEIR_PORT --streams $CAMERAS --cameras $CAMERAS --millis --warmup $WARMUP --duration $DURATION"
    echo '```'
    echo
    echo "| variant | msgs/s | p50 ms | p99 ms | weir CPU ms / 1k msgs | DB queries/s (window) | DB queries per round | enriched % | p99 ms per round | DB q/s per round |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |"
    for v in "${VARIANTS[@]}"; do
        echo "| $v (TTL $(ttl_of "$v") s) | $(median "$v" 3) | $(ms "$(median "$v" 4)") | $(ms "$(median "$v" 5)") | $(median "$v" 7) | $(median "$v" 8) | $(median "$v" 10) | $(median "$v" 12) | $(rounds_of "$v" 5 1000 1) | $(rounds_of "$v" 8 1 2) |"
    done
    echo
    echo "Raw rows (latencies in µs):"
    echo
    echo '```'
    { column -t -s $'\t' "$RESULTS" 2>/dev/null || cat "$RESULTS"; }
    echo '```'
}

{
    echo "<!-- bench:vision -->"
    section
    echo "<!-- /bench:vision -->"
} >"$OUT/vision.md"

# Replace only this section (markers included); append it when the file has none yet.
if [[ $WRITE_MD -eq 1 ]]; then md_section vision "$OUT/vision.md"; fi
log "results in $OUT"
cat "$OUT/vision.md"
