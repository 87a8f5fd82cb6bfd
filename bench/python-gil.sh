#!/usr/bin/env bash
# Python hooks under 64 connections, and what they do to a keyless API on the same gateway.
#
#   bench/python-gil.sh [--rounds N] [--duration S] [--weir PATH] [--no-markdown]
#
# One weir (CPU 1) serves three APIs in front of one nginx origin (CPU 0):
#   keyless   no plugin
#   py-fast   a Python pre hook that sets one header (request.add_header)
#   py-sleep  a Python pre hook that sleeps 5 ms (time.sleep, which releases the GIL), then
#             sets the header
# Per round, each after a 2 s warm-up:
#   alone     wrk -t1 -c4 --latency on keyless: its latency with nothing else running
#   +fast     the same, while wrk -t1 -c64 loads py-fast (the Python hooks' throughput, with
#             every hook call holding the GIL in turn)
#   +sleep    the same, while wrk -t1 -c64 loads py-sleep (64 hooks asleep at once)
#   +plain    the same, while wrk -t1 -c64 loads a second API with no plugin: the share of
#             weir's one core that any busy API takes, for comparison with +fast
# The keyless API's p50/p99 in these cases show whether Python work moves it; the loaded
# APIs' req/s are their throughput. Medians of the rounds go to BENCHMARKS.md
# (`<!-- bench:python-gil -->`), raw outputs to bench/results/python-gil-<stamp>/.
set -euo pipefail

ROUNDS=3
DURATION=10
WRITE_MD=1
WEIR_BIN=""
INVOCATION="bench/python-gil.sh $*"
while [[ $# -gt 0 ]]; do
    case $1 in
        --rounds) ROUNDS=$2; shift 2 ;;
        --duration) DURATION=$2; shift 2 ;;
        --weir) WEIR_BIN=$2; shift 2 ;;
        --no-markdown) WRITE_MD=0; shift ;;
        -h | --help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "python-gil.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
done

die() { echo "python-gil.sh: error: $*" >&2; exit 1; }
log() { echo "python-gil.sh: $*" >&2; }

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=$REPO/bench/results/python-gil-$STAMP
mkdir -p "$OUT"/{logs,raw,origin,weir/apps,plugins}
source "$REPO/bench/lib.sh"

for tool in nginx wrk taskset curl; do
    command -v "$tool" >/dev/null 2>&1 || [[ -x /usr/sbin/$tool ]] || die "missing $tool (bench/install.sh)"
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
if [[ -z $WEIR_BIN ]]; then
    WEIR_BIN=${CARGO_TARGET_DIR:-$REPO/target}/release/weir
    log "building weir (release)"
    (cd "$REPO" && cargo build --release -p weir) || die "cargo build failed"
fi
[[ -x $WEIR_BIN ]] || die "no weir binary at $WEIR_BIN"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

free_port; ORIGIN_PORT=$PORT
free_port; WEIR_PORT=$PORT
{
    nginx_preamble origin
    cat <<EOF
    server {
        listen 127.0.0.1:$ORIGIN_PORT reuseport;
        location / { add_header X-Got-Hello \$http_x_hello; return 200 "hello world"; }
    }
}
EOF
} >"$OUT/origin/nginx.conf"
taskset -c 0 "$NGINX" -c "$OUT/origin/nginx.conf" >"$OUT/logs/origin.out" 2>&1 &
PIDS+=($!)
wait_until origin "${PIDS[-1]}" 10 curl -fsS "http://127.0.0.1:$ORIGIN_PORT/" || die "origin did not start"

cat >"$OUT/plugins/hooks.py" <<'EOF'
import time
from tyk.decorators import *

@Hook
def AddHeader(request, session, spec):
    request.add_header("X-Hello", "v")
    return request, session

@Hook
def SleepThenAdd(request, session, spec):
    time.sleep(0.005)
    request.add_header("X-Hello", "v")
    return request, session
EOF
api() { # ID [HOOK]
    local mw=""
    [[ $# -gt 1 ]] && mw=",\"custom_middleware\":{\"driver\":\"python\",\"pre\":[{\"name\":\"$2\",\"path\":\"$OUT/plugins/hooks.py\"}]}"
    echo "{\"api_id\":\"$1\",\"name\":\"$1\",\"org_id\":\"1\",\"use_keyless\":true,
 \"proxy\":{\"listen_path\":\"/$1/\",\"target_url\":\"http://127.0.0.1:$ORIGIN_PORT\",\"strip_listen_path\":true},
 \"version_data\":{\"not_versioned\":true,\"versions\":{\"Default\":{\"name\":\"Default\"}}}$mw}"
}
api keyless >"$OUT/weir/apps/keyless.json"
api plain >"$OUT/weir/apps/plain.json"
api py-fast AddHeader >"$OUT/weir/apps/py-fast.json"
api py-sleep SleepThenAdd >"$OUT/weir/apps/py-sleep.json"
cat >"$OUT/weir/weir.json" <<EOF
{"listen_address": "127.0.0.1", "listen_port": $WEIR_PORT, "secret": "bench",
 "app_path": "apps", "access_logs": {"enabled": false}}
EOF
(cd "$OUT/weir" && exec taskset -c 1 "$WEIR_BIN" run --conf weir.json) \
    >"$OUT/logs/weir.out" 2>"$OUT/logs/weir.err" &
WEIR_PID=$!
PIDS+=("$WEIR_PID")
wait_until weir "$WEIR_PID" 20 curl -fsS "http://127.0.0.1:$WEIR_PORT/hello" || die "weir did not start"
for v in py-fast py-sleep; do
    got=$(curl -fsS -D - -o /dev/null "http://127.0.0.1:$WEIR_PORT/$v/" | tr -d '\r' |
        awk -F': ' 'tolower($1) == "x-got-hello" {print $2}')
    [[ $got == v ]] || die "$v: the hook did not run (origin got X-Hello='$got'; see $OUT/logs)"
done
log "hooks verified; measuring $ROUNDS rounds of $DURATION s"

# wrk_stats FILE → "req/s p50_ms p99_ms"
wrk_stats() {
    awk '
        function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
        $1 == "50%" { p50 = ms($2) } $1 == "99%" { p99 = ms($2) } $1 == "Requests/sec:" { rps = $2 }
        END { printf "%s %.3f %.3f\n", rps, p50, p99 }' "$1"
}
keyless_wrk() { taskset -c 0 wrk -t1 -c4 "-d${1}s" --latency "http://127.0.0.1:$WEIR_PORT/keyless/"; }
load_wrk() { taskset -c 0 wrk -t1 -c64 "-d${2}s" --latency "http://127.0.0.1:$WEIR_PORT/$1/"; }

RESULTS=$OUT/results.tsv
: >"$RESULTS"
for ((round = 1; round <= ROUNDS; round++)); do
    for case in alone py-fast py-sleep plain; do
        if [[ $case == alone ]]; then
            keyless_wrk 2 >/dev/null
            keyless_wrk "$DURATION" >"$OUT/raw/r$round-alone-keyless.txt"
            echo -e "$round\talone\t$(wrk_stats "$OUT/raw/r$round-alone-keyless.txt" | tr ' ' '\t')\t-" >>"$RESULTS"
            continue
        fi
        load_wrk "$case" 2 >/dev/null
        load_wrk "$case" $((DURATION + 2)) >"$OUT/raw/r$round-$case-load.txt" &
        loader=$!
        sleep 1
        keyless_wrk "$DURATION" >"$OUT/raw/r$round-$case-keyless.txt"
        wait "$loader"
        py_rps=$(wrk_stats "$OUT/raw/r$round-$case-load.txt" | cut -d' ' -f1)
        echo -e "$round\t$case\t$(wrk_stats "$OUT/raw/r$round-$case-keyless.txt" | tr ' ' '\t')\t$py_rps" >>"$RESULTS"
    done
    log "round $round done"
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

median() { # CASE COLUMN
    awk -F'\t' -v c="$1" -v k="$2" '$2 == c {print $k}' "$RESULTS" | sort -g |
        awk '{v[NR] = $1} END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
section() {
    local commit
    commit=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
    echo "## Python hooks under 64 connections, and a keyless API beside them"
    echo
    echo "Run: \`$INVOCATION\` on $(date -u '+%Y-%m-%d %H:%M') UTC, weir commit $commit, release build."
    echo "Load average at start $LOAD_START, at end $LOAD_END. Medians over $ROUNDS rounds of $DURATION s."
    echo "Raw outputs: bench/results/python-gil-$STAMP/ (git-ignored)."
    echo
    echo "- weir on CPU 1; nginx origin and both wrk on CPU 0. The keyless API is measured with"
    echo "  \`wrk -t1 -c4 --latency\`; the Python APIs are loaded at the same time with"
    echo "  \`wrk -t1 -c64\` (py-fast: a hook that sets one header; py-sleep: a hook that sleeps"
    echo "  5 ms with \`time.sleep\`, then sets it; plain: no plugin, for comparison). Hooks:"
    echo "  bench/python-gil.sh writes them."
    echo
    echo "| case | keyless req/s (4 conns) | keyless p50 ms | keyless p99 ms | loaded API req/s (64 conns) |"
    echo "| --- | ---: | ---: | ---: | ---: |"
    for c in alone py-fast py-sleep plain; do
        local py="-"
        [[ $c != alone ]] && py=$(median "$c" 6)
        local label=$c
        case $c in
            alone) label="keyless alone" ;;
            py-fast) label="beside py-fast (Python hook, one header)" ;;
            py-sleep) label="beside py-sleep (Python hook sleeping 5 ms)" ;;
            plain) label="beside plain (no plugin)" ;;
        esac
        echo "| $label | $(median "$c" 3) | $(median "$c" 4) | $(median "$c" 5) | $py |"
    done
    echo
}
section | tee "$OUT/section.md"
if [[ $WRITE_MD -eq 1 ]]; then
    MD=$REPO/BENCHMARKS.md
    { echo "<!-- bench:python-gil -->"; cat "$OUT/section.md"; echo "<!-- /bench:python-gil -->"; } >"$OUT/wrapped.md"
    if grep -qxF '<!-- bench:python-gil -->' "$MD"; then
        awk -v f="$OUT/wrapped.md" '
            $0 == "<!-- bench:python-gil -->" { while ((getline l < f) > 0) print l; skip = 1; next }
            skip && $0 == "<!-- /bench:python-gil -->" { skip = 0; next }
            !skip { print }' "$MD" >"$OUT/BENCHMARKS.md"
    else
        { cat "$MD"; echo; cat "$OUT/wrapped.md"; } >"$OUT/BENCHMARKS.md"
    fi
    cp "$OUT/BENCHMARKS.md" "$MD"
    log "BENCHMARKS.md updated"
fi
