#!/usr/bin/env bash
# Per-message gRPC stream hooks benchmark: one long server stream of seed 000's DetectionEvents
# (examples/vision/proto/vision.proto, vision.VisionService/StreamDetections), side by side:
#
#   bench/stream.sh [--rounds N] [--streams N] [--messages M] [--grpc-messages M]
#                   [--window BYTES] [--only VARIANTS] [--no-build] [--no-markdown]
#
# Variants (--only takes a comma-separated subset):
#   direct       load → origin (no proxy)
#   nginx        load → nginx grpc_pass → origin (the peer; no hooks)
#   weir         load → weir, no hook → origin
#   weir-native  weir + the native vision enricher (examples/plugins/native-vision)
#   weir-wasm    weir + the Wasm vision enricher (examples/plugins/wasm/vision-enricher)
#   weir-grpc    weir + the Python coprocess server's HandleStream (examples/plugins/grpc-python)
# origin and load: bench/vision-stream. Each measurement: --streams concurrent calls of
# --messages events each (weir-grpc: --grpc-messages, default messages/100, as the Python hook
# is some 500× slower), after a warm-up of a tenth of that. The reported figures are medians
# over the rounds of messages/s and p50/p99 of (receive time − send time) per message.
# --window sets the load client's HTTP/2 receive windows (default 0: hyper's, 2 MiB per stream,
# 5 MiB per connection). The defaults (3 rounds, 4 × 500000) take about 3 minutes of measuring.
#
# Pinning as bench/run.sh: the proxy on CPU 1; origin, load and the Python plugin server on
# CPU 0. Everything listens on 127.0.0.1 on ports picked free at run time and is stopped on
# exit. A hooked variant whose plugin is missing, fails to build or that weir refuses is
# skipped (the reason is logged and written to BENCHMARKS.md); one whose check stream is not
# enriched fails the run. Raw outputs go to bench/results/streams-<UTC stamp>/, the
# `<!-- bench:streams -->` section of BENCHMARKS.md is replaced (or appended), nothing else.
# Tools: nginx (bench/install.sh), taskset, ss, curl; cargo unless --no-build; the gRPC hook
# needs the venv of scripts/setup-grpc-plugins.sh.
set -euo pipefail

ROUNDS=3
STREAMS=4
MESSAGES=500000
GRPC_MESSAGES=""
WINDOW=0
ALL_VARIANTS=(direct nginx weir weir-native weir-wasm weir-grpc)
ONLY=$(IFS=,; echo "${ALL_VARIANTS[*]}")
BUILD=1
WRITE_MD=1
INVOCATION="bench/stream.sh $*"
INVOCATION=${INVOCATION% }

usage() { sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
    case $1 in
        --rounds) ROUNDS=$2; shift 2 ;;
        --streams) STREAMS=$2; shift 2 ;;
        --messages) MESSAGES=$2; shift 2 ;;
        --grpc-messages) GRPC_MESSAGES=$2; shift 2 ;;
        --window) WINDOW=$2; shift 2 ;;
        --only) ONLY=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --no-markdown) WRITE_MD=0; shift ;;
        -h | --help) usage; exit 0 ;;
        *) echo "stream.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done
positive() { [[ $2 =~ ^[1-9][0-9]*$ ]] || { echo "stream.sh: $1 must be a positive integer" >&2; exit 2; }; }
positive --rounds "$ROUNDS"
positive --streams "$STREAMS"
positive --messages "$MESSAGES"
[[ -z $GRPC_MESSAGES ]] && GRPC_MESSAGES=$(((MESSAGES + 99) / 100))
positive --grpc-messages "$GRPC_MESSAGES"
[[ $WINDOW =~ ^[0-9]+$ ]] || { echo "stream.sh: --window must be an integer (0: the client's default)" >&2; exit 2; }
# nginx's default http2_max_concurrent_streams is 128.
[[ $STREAMS -le 128 ]] || { echo "stream.sh: --streams must be at most 128" >&2; exit 2; }
VARIANTS=()
for v in ${ONLY//,/ }; do
    [[ " ${ALL_VARIANTS[*]} " == *" $v "* ]] ||
        { echo "stream.sh: unknown variant '$v' (${ALL_VARIANTS[*]})" >&2; exit 2; }
done
# Keep the canonical order whatever order --only used.
for v in "${ALL_VARIANTS[@]}"; do [[ ",$ONLY," == *",$v,"* ]] && VARIANTS+=("$v"); done
want() { [[ " ${VARIANTS[*]} " == *" $1 "* ]]; }

die() { echo "stream.sh: error: $*" >&2; exit 1; }
log() { echo "stream.sh: $*" >&2; }

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=$REPO/bench
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=$BENCH_DIR/results/streams-$STAMP
mkdir -p "$OUT"/{conf,raw,logs,nginx}

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# ---------------------------------------------------------------- tools
# bench/install.sh has no check-only mode (it installs), so check here and point to it.
tools=(taskset curl ss awk sort)
if want nginx; then tools+=(nginx); fi
bench_tools "${tools[@]}" # lib.sh: also sets NGINX, CLK_TCK and LOAD_START

# ---------------------------------------------------------------- build
WEIR_BIN=${CARGO_TARGET_DIR:-$REPO/target}/release/weir
VS_RELEASE=${CARGO_TARGET_DIR:-$BENCH_DIR/vision-stream/target}/release
ORIGIN_BIN=$VS_RELEASE/origin
LOAD_BIN=$VS_RELEASE/load
NATIVE_DIR=$REPO/examples/plugins/native-vision
NATIVE_SO=${CARGO_TARGET_DIR:-$NATIVE_DIR/target}/release/libweir_native_vision.so
WASM_DIR=$REPO/examples/plugins/wasm
WASM_FILE=${CARGO_TARGET_DIR:-$WASM_DIR/target}/wasm32-wasip1/release/vision_enricher.wasm
PY=$REPO/target/plugin-venv/bin/python
PY_SERVER=$REPO/examples/plugins/grpc-python/server.py

declare -A SKIP=() # variant → why it is not measured
if [[ $BUILD -eq 1 ]]; then
    log "building bench/vision-stream (release)"
    (cd "$BENCH_DIR/vision-stream" && cargo build --release) || die "cargo build of bench/vision-stream failed"
    if [[ " ${VARIANTS[*]} " == *" weir"* ]]; then
        log "building weir (release)"
        (cd "$REPO" && cargo build --release -p weir) || die "cargo build of weir failed"
    fi
    if want weir-native; then
        log "building examples/plugins/native-vision (release)"
        cargo build --release --manifest-path "$NATIVE_DIR/Cargo.toml" >"$OUT/logs/build-native.log" 2>&1 ||
            SKIP[weir-native]="the native plugin failed to build (cargo build --release --manifest-path examples/plugins/native-vision/Cargo.toml)"
    fi
    if want weir-wasm; then
        log "building examples/plugins/wasm vision-enricher (release, wasm32-wasip1)"
        cargo build --release --manifest-path "$WASM_DIR/Cargo.toml" -p vision-enricher --target wasm32-wasip1 \
            >"$OUT/logs/build-wasm.log" 2>&1 ||
            SKIP[weir-wasm]="the Wasm plugin failed to build (cargo build --release --manifest-path examples/plugins/wasm/Cargo.toml -p vision-enricher --target wasm32-wasip1)"
    fi
fi
[[ -x $ORIGIN_BIN && -x $LOAD_BIN ]] ||
    die "bench/vision-stream binaries not found in $VS_RELEASE (cd bench/vision-stream && cargo build --release)"
if [[ " ${VARIANTS[*]} " == *" weir"* ]]; then
    [[ -x $WEIR_BIN ]] || die "weir binary not found at $WEIR_BIN (cargo build --release -p weir)"
fi
if want weir-native && [[ -z ${SKIP[weir-native]:-} && ! -f $NATIVE_SO ]]; then
    SKIP[weir-native]="no native plugin at ${NATIVE_SO#"$REPO/"}"
fi
if want weir-wasm && [[ -z ${SKIP[weir-wasm]:-} && ! -f $WASM_FILE ]]; then
    SKIP[weir-wasm]="no Wasm plugin at ${WASM_FILE#"$REPO/"}"
fi
if want weir-grpc; then
    if [[ ! -f $PY_SERVER ]]; then
        SKIP[weir-grpc]="no ${PY_SERVER#"$REPO/"}"
    elif ! "$PY" -c 'import grpc, grpc_tools, google.protobuf' >/dev/null 2>&1; then
        SKIP[weir-grpc]="no Python venv with grpcio at target/plugin-venv (run scripts/setup-grpc-plugins.sh)"
    fi
fi

# ---------------------------------------------------------------- processes
declare -A PORT_OF=() PROXY_PIDS=()
free_port; ORIGIN_PORT=$PORT
PORT_OF[direct]=$ORIGIN_PORT

log "starting origin on :$ORIGIN_PORT (CPU 0)"
taskset -c 0 "$ORIGIN_BIN" --listen "127.0.0.1:$ORIGIN_PORT" >"$OUT/logs/origin.out" 2>&1 &
ORIGIN_PID=$!
PIDS+=("$ORIGIN_PID")
wait_until origin "$ORIGIN_PID" 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$ORIGIN_PORT" ||
    die "origin did not start; see $OUT/logs/origin.out"

# The peer: nginx, one worker, keepalive to the origin, no access log; CPU 1. Defaults
# otherwise (grpc_buffer_size, http2 windows), as bench/run.sh's grpc section.
if want nginx; then
    free_port; PORT_OF[nginx]=$PORT
    cat >"$OUT/conf/nginx.conf" <<EOF
worker_processes 1;
daemon off;
user root;
pid $OUT/nginx/nginx.pid;
error_log $OUT/logs/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $OUT/nginx/body;
    proxy_temp_path $OUT/nginx/proxy;
    fastcgi_temp_path $OUT/nginx/fastcgi;
    uwsgi_temp_path $OUT/nginx/uwsgi;
    scgi_temp_path $OUT/nginx/scgi;
    keepalive_timeout 300s;
    keepalive_requests 100000000;
    upstream vision_origin {
        server 127.0.0.1:$ORIGIN_PORT;
        keepalive 64;
        keepalive_requests 100000000;
        keepalive_timeout 300s;
    }
    server {
        listen 127.0.0.1:${PORT_OF[nginx]} http2;
        location /vision.VisionService/ {
            grpc_pass grpc://vision_origin;
        }
    }
}
EOF
    "$NGINX" -t -q -c "$OUT/conf/nginx.conf" -e "$OUT/logs/nginx-error.log" || die "nginx config invalid"
    log "starting nginx on :${PORT_OF[nginx]} (CPU 1)"
    taskset -c 1 "$NGINX" -c "$OUT/conf/nginx.conf" -e "$OUT/logs/nginx-error.log" >"$OUT/logs/nginx.out" 2>&1 &
    NGX_PID=$!
    PIDS+=("$NGX_PID")
    wait_until nginx "$NGX_PID" 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/${PORT_OF[nginx]}" ||
        die "nginx did not start; see $OUT/logs/nginx-error.log"
    mapfile -t NGX_WORKERS < <(pgrep -P "$NGX_PID")
    [[ ${#NGX_WORKERS[@]} -ge 1 ]] || die "nginx has no worker process"
    PROXY_PIDS[nginx]="$NGX_PID ${NGX_WORKERS[*]}"
fi

# The gRPC hook's server (CPU 0, as bench/run.sh's plugin server): started before its weir.
PY_PID=""
if want weir-grpc && [[ -z ${SKIP[weir-grpc]:-} ]]; then
    free_port; PLUGIN_PORT=$PORT
    # server.py takes host:port; the tcp:// form only if this version of it documents one.
    listen_arg=127.0.0.1:$PLUGIN_PORT
    grep -q 'tcp://' "$PY_SERVER" && listen_arg=tcp://$listen_arg
    log "starting the Python plugin server on $listen_arg (CPU 0)"
    taskset -c 0 "$PY" "$PY_SERVER" --listen "$listen_arg" >"$OUT/logs/grpc-python.out" 2>&1 &
    PY_PID=$!
    PIDS+=("$PY_PID")
    # Generating the stubs at start-up takes a few seconds.
    if ! wait_until "Python plugin server" "$PY_PID" 60 grep -q '^LISTENING' "$OUT/logs/grpc-python.out"; then
        SKIP[weir-grpc]="the Python plugin server did not start (see logs/grpc-python.out)"
        kill -TERM "$PY_PID" 2>/dev/null || true
        PY_PID=""
    fi
fi

# weir: one instance per variant (the listen path is the gRPC service's, so one API per
# gateway), all on CPU 1; only the one under load is busy. The API is seed 000's vision API
# (strip_listen_path true, which weir ignores for gRPC calls), keyless.
CONFIG_DATA='{"cameras":{"cam-1":{"location":"Assembly line 1","status":"active","install_date":"2023-04-01"}}}'
middleware_of() { # VARIANT → the custom_middleware JSON (nothing for plain weir)
    case $1 in
        weir-native) echo "{\"driver\":\"native\",\"driver_specific_middleware\":{\"native_streams\":[{\"path\":\"$NATIVE_SO\",\"symbol_name\":\"HandleStream\"}]}}" ;;
        weir-wasm) echo "{\"driver\":\"wasm\",\"driver_specific_middleware\":{\"wasm_streams\":[{\"path\":\"$WASM_FILE\",\"symbol_name\":\"HandleStream\"}]}}" ;;
        weir-grpc) echo '{"driver":"grpc","driver_specific_middleware":{"grpc_streams":[{"name":"HandleStream"}]}}' ;;
    esac
}
declare -A WEIR_DIR=()
for v in weir weir-native weir-wasm weir-grpc; do
    want "$v" || continue
    [[ -n ${SKIP[$v]:-} ]] && continue
    free_port; PORT_OF[$v]=$PORT
    dir=$OUT/$v
    WEIR_DIR[$v]=$dir
    mkdir -p "$dir/apps"
    coprocess=""
    [[ $v == weir-grpc ]] && coprocess=",
  \"coprocess_options\": { \"enable_coprocess\": true, \"coprocess_grpc_server\": \"tcp://127.0.0.1:$PLUGIN_PORT\" }"
    cat >"$dir/weir.json" <<EOF
{
  "listen_address": "127.0.0.1",
  "listen_port": ${PORT_OF[$v]},
  "secret": "bench",
  "app_path": "apps",
  "access_logs": { "enabled": false }$coprocess
}
EOF
    mw=$(middleware_of "$v")
    [[ -n $mw ]] && mw=",
 \"custom_middleware\":$mw"
    cat >"$dir/apps/vision.json" <<EOF
{"api_id":"vision","name":"vision","org_id":"1","use_keyless":true,"active":true,
 "proxy":{"listen_path":"/vision.VisionService/","target_url":"grpc://127.0.0.1:$ORIGIN_PORT","strip_listen_path":true,"enable_grpc":true},
 "version_data":{"not_versioned":true,"versions":{"Default":{"name":"Default"}}},
 "config_data":$CONFIG_DATA$mw}
EOF
    cp "$dir/weir.json" "$OUT/conf/$v.json"
    cp "$dir/apps/vision.json" "$OUT/conf/$v-api.json"
    # weir refuses what it cannot run (a driver without stream hooks, a plugin that does not
    # load): for a hooked variant that is a skip, not a failure of the whole benchmark.
    if ! (cd "$dir" && "$WEIR_BIN" check --conf weir.json) >"$OUT/logs/$v-check.txt" 2>&1; then
        [[ $v == weir ]] && die "weir check refused the plain vision API: $(head -n1 "$OUT/logs/$v-check.txt")"
        SKIP[$v]="weir refuses the API: $(head -n1 "$OUT/logs/$v-check.txt" | sed "s|$OUT/||g")"
        continue
    fi
    log "starting $v on :${PORT_OF[$v]} (CPU 1)"
    (cd "$dir" && exec taskset -c 1 "$WEIR_BIN" run --conf weir.json) >"$OUT/logs/$v.out" 2>"$OUT/logs/$v.err" &
    pid=$!
    PIDS+=("$pid")
    PROXY_PIDS[$v]=$pid
    wait_until "$v" "$pid" 10 curl -fsS "http://127.0.0.1:${PORT_OF[$v]}/hello" ||
        die "$v did not start; see $OUT/logs/$v.err"
done
for v in "${!SKIP[@]}"; do log "$v is SKIPPED: ${SKIP[$v]}"; done

# ---------------------------------------------------------------- checks
# One short stream per variant: the hooked ones must enrich every event, the others none.
run_load() { # PORT MESSAGES [LOAD ARGS...] → the load's line on stdout
    local port=$1 msgs=$2
    shift 2
    taskset -c 0 "$LOAD_BIN" --target "http://127.0.0.1:$port" --streams "$STREAMS" --messages "$msgs" \
        --window "$WINDOW" "$@"
}
measured=()
for v in "${VARIANTS[@]}"; do
    [[ -n ${SKIP[$v]:-} ]] && continue
    expect=""
    [[ $v == weir-?* ]] && expect="Assembly line 1"
    taskset -c 0 "$LOAD_BIN" --target "http://127.0.0.1:${PORT_OF[$v]}" --streams 1 --messages 5 \
        --expect-location "$expect" --timeout 30 >"$OUT/raw/check-$v.txt" 2>&1 ||
        die "$v: the check stream failed: $(tail -n1 "$OUT/raw/check-$v.txt")"
    log "$v: checked (camera_location '$expect' on every event)"
    measured+=("$v")
done
[[ ${#measured[@]} -gt 0 ]] || die "no variant to measure"

# ---------------------------------------------------------------- measuring
RESULTS=$OUT/results.tsv
printf 'variant\tround\tmsgs_per_s\tp50_us\tp99_us\tmax_us\tproxy_cpu_s_per_10k\tmessages\tseconds\tplugin_cpu_s_per_10k\n' >"$RESULTS"

field() { # KEY LINE → the value of KEY=value in the load's line
    awk -v k="$1" '{for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) print substr($i, length(k) + 2)}' <<<"$2"
}
per10k() { # TICKS MESSAGES
    awk -v t="$1" -v hz="$CLK_TCK" -v n="$2" 'BEGIN {printf "%.4f", t / hz / n * 10000}'
}

measure() { # VARIANT ROUND
    local v=$1 round=$2 msgs=$MESSAGES raw line before=0 after=0 pbefore=0 pafter=0 cpu=- pcpu=-
    local -a pids=()
    [[ $v == weir-grpc ]] && msgs=$GRPC_MESSAGES
    [[ -n ${PROXY_PIDS[$v]:-} ]] && read -ra pids <<<"${PROXY_PIDS[$v]}"
    raw=$OUT/raw/$v-r$round.txt
    run_load "${PORT_OF[$v]}" $(((msgs + 9) / 10)) >"$OUT/raw/$v-r$round.warmup.txt" 2>&1 ||
        die "$v: warm-up failed: $(tail -n1 "$OUT/raw/$v-r$round.warmup.txt")"
    [[ ${#pids[@]} -gt 0 ]] && before=$(cpu_ticks "${pids[@]}")
    [[ $v == weir-grpc ]] && pbefore=$(cpu_ticks "$PY_PID")
    run_load "${PORT_OF[$v]}" "$msgs" >"$raw" 2>&1 || die "$v round $round failed: $(tail -n1 "$raw")"
    [[ ${#pids[@]} -gt 0 ]] && after=$(cpu_ticks "${pids[@]}")
    [[ $v == weir-grpc ]] && pafter=$(cpu_ticks "$PY_PID")
    line=$(grep '^streams=' "$raw") || die "$v round $round: no result line in $raw"
    local total
    total=$(field messages "$line")
    [[ ${#pids[@]} -gt 0 ]] && cpu=$(per10k $((after - before)) "$total")
    [[ $v == weir-grpc ]] && pcpu=$(per10k $((pafter - pbefore)) "$total")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$v" "$round" "$(field msgs_per_s "$line")" \
        "$(field p50_us "$line")" "$(field p99_us "$line")" "$(field max_us "$line")" "$cpu" "$total" \
        "$(field seconds "$line")" "$pcpu" >>"$RESULTS"
    log "$(printf '%-11s round %s: %8s msgs/s  p50 %8s us  p99 %8s us  proxy cpu %s s/10k  plugin cpu %s' \
        "$v" "$round" "$(field msgs_per_s "$line")" "$(field p50_us "$line")" "$(field p99_us "$line")" "$cpu" "$pcpu")"
}

START_S=$SECONDS
for ((round = 1; round <= ROUNDS; round++)); do
    # The order rotates by one each round, so no variant always runs first (or last).
    n=${#measured[@]}
    for ((i = 0; i < n; i++)); do measure "${measured[(i + round - 1) % n]}" "$round"; done
done
MEASURE_S=$((SECONDS - START_S))
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- report
median() { # VARIANT COLUMN
    awk -F'\t' -v v="$1" -v c="$2" 'NR > 1 && $1 == v {print $c}' "$RESULTS" | sort -g | awk '{v[NR] = $1} END {
        if (NR == 0) { print "nan"; exit }
        if (NR % 2) print v[(NR + 1) / 2]; else printf "%.4f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
rounds_of() { # VARIANT COLUMN [DIVISOR DIGITS] → "a / b / c"
    awk -F'\t' -v v="$1" -v c="$2" -v d="${3:-1}" -v p="${4:-0}" \
        'NR > 1 && $1 == v {printf "%s%.*f", s, p, $c / d; s = " / "}' "$RESULTS"
}
fmt() { awk -v v="$1" -v d="$2" -v div="${3:-1}" 'BEGIN { if (v == "-" || v == "nan") print v; else printf "%.*f", d, v / div }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == "" || b == "nan" || b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'; }
ran() { [[ " ${measured[*]} " == *" $1 "* ]]; }

COMMIT=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$REPO" status --porcelain -- crates Cargo.toml Cargo.lock examples/plugins 2>/dev/null) ]]; then
    COMMIT+=" (with uncommitted changes under crates/ or examples/plugins/)"
fi
NGINX_VERSION=$("$NGINX" -v 2>&1 | sed 's/^nginx version: //' || echo "nginx not found")
CPU_MODEL=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
WINDOW_NOTE="hyper's defaults, 2 MiB per stream and 5 MiB per connection"
[[ $WINDOW -gt 0 ]] && WINDOW_NOTE="$WINDOW bytes per stream and per connection (\`--window $WINDOW\`)"

describe() { # VARIANT
    case $1 in
        direct) echo "load → origin, no proxy (both on CPU 0)" ;;
        nginx) echo "$NGINX_VERSION \`grpc_pass\`, no hooks (the peer)" ;;
        weir) echo "weir, the vision API without \`custom_middleware\`" ;;
        weir-native) echo "weir + \`native_streams\` HandleStream: examples/plugins/native-vision (Rust, release)" ;;
        weir-wasm) echo "weir + \`wasm_streams\` HandleStream: examples/plugins/wasm/vision-enricher (proxy-wasm, wasm32-wasip1, release)" ;;
        weir-grpc) echo "weir + \`grpc_streams\` HandleStream: examples/plugins/grpc-python/server.py (grpcio, CPU 0) over TCP" ;;
    esac
}
target_of() { # VARIANT → "MIN-RATIO" or nothing
    case $1 in weir-native) echo 1.00 ;; weir-wasm) echo 0.70 ;; esac
}

section() {
    local v nginx_rps rps r t verdict msgs
    nginx_rps=nan
    ran nginx && nginx_rps=$(median nginx 3)
    echo "## gRPC stream hooks: a server stream of DetectionEvents → proxy (± a per-message hook) → tonic origin"
    echo
    echo "Run: \`$INVOCATION\` on $DATE, weir commit $COMMIT, release profile (thin LTO)."
    echo "Load average (1/5/15 min) at start $LOAD_START, at end $LOAD_END. Medians over $ROUNDS rounds;"
    echo "each measurement $STREAMS concurrent streams × $MESSAGES messages (weir-grpc: × $GRPC_MESSAGES),"
    echo "after a warm-up of a tenth of that. Measuring took ${MEASURE_S} s."
    echo "Machine: $(nproc) cores, shared ($CPU_MODEL); proxy (nginx or weir) pinned to CPU 1; origin,"
    echo "load generator and the Python plugin server on CPU 0."
    echo "Raw outputs: bench/results/streams-$STAMP/ (git-ignored)."
    echo
    echo "Load command, one per variant per round (PORT: the variant's proxy, or the origin for direct;"
    echo "the variant order rotates by one each round):"
    echo
    echo '```'
    echo "taskset -c 0 bench/vision-stream/target/release/load --target http://127.0.0.1:PORT --streams $STREAMS --messages $MESSAGES --window $WINDOW"
    echo '```'
    echo
    cat <<NOTE
- Origin: \`bench/vision-stream\` \`origin\` (tonic 0.14, current-thread runtime), seed 000's
  \`vision.VisionService/StreamDetections\`: \`x-count\` events as fast as flow control allows, one
  \`DetectedObject\` each, \`camera_id\` "cam-1" (the request's). The bench reuses
  \`DetectionEvent.timestamp_ms\` for the send time in **microseconds** since the Unix epoch;
  latency = receive time − that, per message, in \`load\` (tonic client, one HTTP/2 connection,
  receive windows: $WINDOW_NOTE).
- Latency is under saturation: the origin fills every flow-control window on the way, so a
  message's latency is mostly its wait in those queues (the client's window, the proxy's
  buffers and upstream window), not the per-message work. Compare it between variants, not with
  a single call's latency.
- weir variants: one weir per variant (CPU 1), seed 000's API: \`listen_path\`
  \`/vision.VisionService/\`, \`target_url\` \`grpc://127.0.0.1:PORT\`, \`enable_grpc\`, \`use_keyless\`,
  \`config_data\` \`$CONFIG_DATA\`; hooks under
  \`custom_middleware.driver_specific_middleware.<driver>_streams\`, \`symbol_name\`/\`name\` \`HandleStream\`.
  Each variant was checked before measuring with one short stream: the hooked ones must set
  \`camera_location\` "Assembly line 1" on every event, the others leave it empty.
- nginx: worker_processes 1, access_log off, \`upstream { keepalive 64; }\`, \`listen PORT http2\`,
  \`grpc_pass grpc://\`, default buffers.
- Targets: weir-native ≥ nginx's messages/s; weir-wasm ≥ 70 % of nginx's.
NOTE
    echo
    echo "| variant | what | msgs/s | vs nginx | target | p50 ms | p99 ms | proxy CPU-s / 10k msgs | plugin server CPU-s / 10k msgs | msgs/s per round | p99 ms per round |"
    echo "| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- | --- |"
    for v in "${ALL_VARIANTS[@]}"; do
        t=$(target_of "$v")
        if [[ -n ${SKIP[$v]:-} ]]; then
            echo "| $v | $(describe "$v") | skipped: ${SKIP[$v]} | | ${t:+≥ $t × nginx} | | | | | | |"
            continue
        fi
        if ! ran "$v"; then
            echo "| $v | $(describe "$v") | not run (\`--only\`) | | | | | | | | |"
            continue
        fi
        rps=$(median "$v" 3)
        r=$(ratio "$rps" "$nginx_rps")
        verdict=""
        if [[ -n $t ]]; then
            if [[ $r == n/a ]]; then
                verdict="≥ $t × nginx: n/a (nginx not run)"
            elif awk -v r="$r" -v t="$t" 'BEGIN { exit !(r >= t) }'; then
                verdict="≥ $t × nginx: met"
            else
                verdict="≥ $t × nginx: **missed**"
            fi
        fi
        echo "| $v | $(describe "$v") | $(fmt "$rps" 0) | $r | $verdict | $(fmt "$(median "$v" 4)" 3 1000) | $(fmt "$(median "$v" 5)" 3 1000) | $(fmt "$(median "$v" 7)" 4) | $(fmt "$(median "$v" 10)" 4) | $(rounds_of "$v" 3) | $(rounds_of "$v" 5 1000 3) |"
    done
    echo
    for v in weir-native weir-wasm; do
        if [[ -n ${SKIP[$v]:-} ]]; then
            echo "**$v: skipped — ${SKIP[$v]}.** Rerun \`bench/stream.sh\` once it builds and loads."
            echo
        fi
    done
    echo "Raw rows (latencies in µs):"
    echo
    echo '```'
    { column -t -s $'\t' "$RESULTS" 2>/dev/null || cat "$RESULTS"; }
    echo '```'
}

{
    echo "<!-- bench:streams -->"
    section
    echo "<!-- /bench:streams -->"
} >"$OUT/streams.md"

# Replace only this section (markers included); append it when the file has none yet.
if [[ $WRITE_MD -eq 1 ]]; then md_section streams "$OUT/streams.md"; fi
log "results in $OUT"
cat "$OUT/streams.md"
for v in "${!SKIP[@]}"; do log "$v was SKIPPED: ${SKIP[$v]}"; done
