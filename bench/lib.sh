# shellcheck shell=bash disable=SC2034  # it sets globals the sourcing scripts read
# Shared by the bench/*.sh scripts (sourced after each defines `log` and `die`): child
# processes stopped on exit, free loopback ports, readiness polls, CPU time from /proc, nginx
# configs, a BENCHMARKS.md section replaced; and, for the wrk benchmarks of one API's variants (bench/auth.sh,
# bench/middleware.sh), their options, the weir binary, processes, measuring and report.

# Every started child's pid goes here; all are stopped (TERM, then KILL after 5 s) on exit.
PIDS=()
cleanup() {
    local rc=$? pid i
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do
        for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    # OUT is unset when the options were wrong (the wrk benchmarks read them after sourcing).
    if [[ $rc -ne 0 && -n ${OUT:-} ]]; then log "failed (exit $rc); logs in $OUT/logs"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

USED_PORTS=" "
PORT=0
# Sets PORT to a TCP port on which nothing listens or connects, not handed out before.
free_port() {
    local p
    while :; do
        p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
        [[ $USED_PORTS == *" $p "* ]] && continue
        if [[ -z $(ss -Htan "( sport = :$p or dport = :$p )") ]]; then
            USED_PORTS+="$p "
            PORT=$p
            return
        fi
    done
}

# wait_until NAME PID SECONDS CHECK-COMMAND...: polls while PID lives; 1 when it died or
# the time ran out.
wait_until() {
    local name=$1 pid=$2 tries=$(($3 * 10)) i
    shift 3
    for ((i = 0; i < tries; i++)); do
        kill -0 "$pid" 2>/dev/null || return 1
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    log "$name not ready after $((tries / 10)) s"
    return 1
}

# Summed utime+stime (clock ticks) of the given pids, all threads included.
cpu_ticks() {
    local total=0 pid stat
    local -a f
    for pid in "$@"; do
        stat=$(<"/proc/$pid/stat")
        stat=${stat##*) }
        read -ra f <<<"$stat"
        total=$((total + f[11] + f[12]))
    done
    echo "$total"
}

# nginx_preamble NAME: the start of an nginx config for a bench instance whose files live in
# $OUT/NAME (one worker, in the foreground, no access log, long keep-alive); the caller
# writes the `upstream` and `server` blocks and closes the `http` block.
nginx_preamble() {
    cat <<EOF
worker_processes 1;
daemon off;
user root;
pid $OUT/$1/nginx.pid;
error_log $OUT/logs/$1-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $OUT/$1/body;
    proxy_temp_path $OUT/$1/proxy;
    fastcgi_temp_path $OUT/$1/fastcgi;
    uwsgi_temp_path $OUT/$1/uwsgi;
    scgi_temp_path $OUT/$1/scgi;
    keepalive_timeout 300s;
    keepalive_requests 100000000;
EOF
}

# md_section NAME FILE: FILE, markers included, replaces the `<!-- bench:NAME -->` section of
# BENCHMARKS.md (through `<!-- /bench:NAME -->`), or is appended when there is none; nothing
# else changes. The new file is kept in $OUT too.
md_section() {
    local md=$REPO/BENCHMARKS.md begin="<!-- bench:$1 -->" end="<!-- /bench:$1 -->"
    if [[ -f $md ]] && grep -qxF "$begin" "$md"; then
        awk -v f="$2" -v b="$begin" -v e="$end" '
            $0 == b { while ((getline l < f) > 0) print l; skip = 1; next }
            skip && $0 == e { skip = 0; next }
            !skip { print }' "$md" >"$OUT/BENCHMARKS.md"
    else
        { [[ -f $md ]] && cat "$md" && echo; cat "$2"; } >"$OUT/BENCHMARKS.md"
    fi
    cp "$OUT/BENCHMARKS.md" "$md"
    log "wrote the $1 section of $md"
}

# ================================================================ the wrk benchmarks
# bench/auth.sh and bench/middleware.sh: wrk -t1 -c$CONNS → one proxy → the nginx origin, one
# API's variants side by side. Each script defines `usage`, `log`, `die`, VARIANTS and REPO, and
# later `load_cmd VARIANT SECONDS` (the load command, one argument per line) for wrk_measure.
# Their results.tsv rows start: variant, round, req/s, p50 ms, p99 ms, proxy CPU-s per 10k
# requests, requests, errors.

# bench_start NAME ARGS...: the defaults and the options the wrk benchmarks share (an option not
# known here goes to the script's `own_arg ARGS...` when it has one, which sets ARGS_USED to how
# many arguments it took, 0 when not its own); then OUT, bench/results/NAME-<UTC stamp>, with
# conf, raw, logs, origin and proxy in it. Sets ME (NAME.sh), INVOCATION and STAMP too.
bench_start() {
    BENCH_NAME=$1 ME=$1.sh ROUNDS=3 DURATION=10 WARMUP=2 CONNS=64 BUILD=1 WRITE_MD=1 WEIR_BIN="" WEIR_COMMIT=""
    shift
    INVOCATION="bench/$ME $*"
    INVOCATION=${INVOCATION% }
    while [[ $# -gt 0 ]]; do
        case $1 in
            --rounds) ROUNDS=$2; shift 2 ;;
            --duration) DURATION=$2; shift 2 ;;
            --warmup) WARMUP=$2; shift 2 ;;
            --weir) WEIR_BIN=$2; BUILD=0; shift 2 ;;
            --weir-commit) WEIR_COMMIT=$2; shift 2 ;;
            --no-build) BUILD=0; shift ;;
            --no-markdown) WRITE_MD=0; shift ;;
            -h | --help) usage; exit 0 ;;
            *)
                ARGS_USED=0
                if declare -F own_arg >/dev/null; then own_arg "$@"; fi
                [[ $ARGS_USED -gt 0 ]] || { echo "$ME: unknown argument: $1" >&2; usage >&2; exit 2; }
                shift "$ARGS_USED" ;;
        esac
    done
    [[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "$ME: --rounds must be a positive integer" >&2; exit 2; }
    [[ $DURATION =~ ^[1-9][0-9]*$ ]] || { echo "$ME: --duration must be a positive integer" >&2; exit 2; }
    [[ $WARMUP =~ ^[0-9]+$ ]] || { echo "$ME: --warmup must be an integer" >&2; exit 2; }
    STAMP=$(date -u +%Y%m%dT%H%M%SZ)
    OUT=$REPO/bench/results/$BENCH_NAME-$STAMP
    mkdir -p "$OUT"/{conf,raw,logs,origin,proxy}
}

# bench_tools TOOL...: dies naming the missing ones (and cargo when building); sets NGINX,
# CLK_TCK and LOAD_START (the load average before the run).
bench_tools() {
    local tool
    local -a missing=()
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || [[ -x /usr/sbin/$tool ]] || missing+=("$tool")
    done
    if [[ $BUILD -eq 1 ]]; then command -v cargo >/dev/null 2>&1 || missing+=(cargo); fi
    [[ ${#missing[@]} -eq 0 ]] || die "missing tools: ${missing[*]} (bench/install.sh installs nginx and wrk)"
    NGINX=$(command -v nginx || echo /usr/sbin/nginx)
    taskset -c 1 true 2>/dev/null || die "cannot pin to CPU 1: this benchmark needs at least 2 CPUs"
    CLK_TCK=$(getconf CLK_TCK)
    LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
}

# weir_binary: with BUILD=1 builds weir (release) and takes the commit from git; else WEIR_BIN as
# given (default target/release/weir), its commit WEIR_COMMIT, else the first word of
# WEIR_BIN.commit, else "unknown". Sets WEIR_BIN, WEIR_COMMIT and WEIR_SHA.
weir_binary() {
    local target
    if [[ $BUILD -eq 1 ]]; then
        log "building weir (release)"
        (cd "$REPO" && cargo build --release -p weir) || die "cargo build of weir failed"
        target=$(cd "$REPO" && cargo metadata --no-deps --format-version 1 |
            sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
        WEIR_BIN=${target:-$REPO/target}/release/weir
        WEIR_COMMIT=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
        if [[ -n $(git -C "$REPO" status --porcelain -- crates Cargo.toml Cargo.lock 2>/dev/null) ]]; then
            WEIR_COMMIT+=" (with uncommitted changes under crates/)"
        fi
    elif [[ -z $WEIR_BIN ]]; then
        WEIR_BIN=${CARGO_TARGET_DIR:-$REPO/target}/release/weir
    fi
    [[ -x $WEIR_BIN ]] || die "weir binary not found at $WEIR_BIN (build it, or give --weir PATH)"
    if [[ -z $WEIR_COMMIT && -f $WEIR_BIN.commit ]]; then read -r WEIR_COMMIT _ <"$WEIR_BIN.commit"; fi
    WEIR_COMMIT=${WEIR_COMMIT:-unknown}
    WEIR_SHA=$(sha256sum "$WEIR_BIN" | cut -c1-12)
}

ports() { # NAME...: NAME_PORT, a free port, for each
    local n
    for n in "$@"; do free_port; printf -v "${n}_PORT" '%s' "$PORT"; done
}

# Like wait_until, for up to 10 s, and a failure ends the run.
ready() { wait_until "$1" "$2" 10 "${@:3}" || die "$1 did not start; see $OUT/logs"; }

# nginx_origin_conf [DIRECTIVES]: the origin's config on ORIGIN_PORT: every path answers
# 200 "hello world\n", after DIRECTIVES (e.g. add_header); its files in $OUT/origin.
nginx_origin_conf() {
    nginx_preamble origin
    cat <<EOC
    default_type text/plain;
    server {
        listen 127.0.0.1:$ORIGIN_PORT;
        location / { ${1:-}return 200 "hello world\n"; }
    }
}
EOC
}

# nginx_proxy_conf PORT: the peer proxy's config (proxy_pass /bench/ to the origin on
# ORIGIN_PORT, keep-alive upstream), its files in $OUT/proxy.
nginx_proxy_conf() {
    nginx_preamble proxy
    cat <<EOC
    upstream origin {
        server 127.0.0.1:$ORIGIN_PORT;
        keepalive 64;
        keepalive_requests 100000000;
        keepalive_timeout 300s;
    }
    server {
        listen 127.0.0.1:$1;
        location /bench/ {
            proxy_pass http://origin/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOC
}

# start_nginx NAME LABEL CPU PORT PATH: nginx with $OUT/conf/NAME.conf (checked first) pinned to
# CPU, until http://127.0.0.1:PORT PATH answers; STARTED is its pid.
start_nginx() {
    local conf=$OUT/conf/$1.conf err=$OUT/logs/$1-error.log
    "$NGINX" -t -q -c "$conf" -e "$err" || die "$1 nginx config invalid"
    log "starting $2 on :$4 (CPU $3)"
    taskset -c "$3" "$NGINX" -c "$conf" -e "$err" >"$OUT/logs/$1.out" 2>&1 &
    STARTED=$!
    PIDS+=("$STARTED")
    ready "$2" "$STARTED" curl -fsS "http://127.0.0.1:$4$5"
}

# start_peer_proxy PORT: the nginx proxy (conf/proxy.conf) on CPU 1; NGX_ALL, its master and
# workers, whose CPU is the proxy's.
start_peer_proxy() {
    local -a workers
    start_nginx proxy "nginx proxy" 1 "$1" /bench/
    mapfile -t workers < <(pgrep -P "$STARTED")
    [[ ${#workers[@]} -ge 1 ]] || die "nginx proxy has no worker process"
    NGX_ALL=("$STARTED" "${workers[@]}")
}

# start_weir DIR: `weir run --conf weir.json` in $OUT/DIR on CPU 1, output to
# $OUT/logs/DIR.{out,err}; STARTED is its pid (the caller waits for it to answer).
start_weir() {
    (cd "$OUT/$1" && exec taskset -c 1 "$WEIR_BIN" run --conf weir.json) \
        >"$OUT/logs/$1.out" 2>"$OUT/logs/$1.err" &
    STARTED=$!
    PIDS+=("$STARTED")
}

gateway_conf() { # PORT EXTRA-JSON-MEMBERS → a weir.json (access logs off, apps in ./apps)
    cat <<EOC
{
  "listen_address": "127.0.0.1",
  "listen_port": $1,
  "secret": "bench",
  "app_path": "apps",
  "access_logs": { "enabled": false }$2
}
EOC
}
# api_def ID USE_KEYLESS EXTRA-JSON-MEMBERS [DEFAULT-VERSION-MEMBERS] → a classic API at /ID/
# (stripped) → the origin on ORIGIN_PORT.
api_def() {
    cat <<EOC
{"api_id":"$1","name":"$1","org_id":"o","use_keyless":$2,"active":true,
 "proxy":{"listen_path":"/$1/","target_url":"http://127.0.0.1:$ORIGIN_PORT","strip_listen_path":true},
 "version_data":{"not_versioned":true,"versions":{"Default":{"name":"Default"${4:-}}}}$3}
EOC
}

threads_of() { # PID → its threads by name, "name×count, …"
    cat /proc/"$1"/task/*/comm | sort | uniq -c | awk '{printf "%s%s×%s", sep, $2, $1; sep=", "}'
}

# wrk_args SECONDS URL [HEADER...]: the load command, one argument per line.
wrk_args() {
    local h
    printf '%s\n' taskset -c 0 wrk -t1 "-c$CONNS" "-d${1}s" --latency
    for h in "${@:3}"; do printf '%s\n' -H "$h"; done
    printf '%s\n' "$2"
}

# Latency from wrk ("310.00us", "1.20ms", "2.00s") in ms.
wrk_ms() {
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
        else if (v ~ /m$/) { sub(/m$/, "", v); printf "%.3f", v * 60000 }
        else { sub(/s$/, "", v); printf "%.3f", v * 1000 } }'
}

# wrk_read RAW: RPS, P50 and P99 (ms), REQUESTS and ERRORS (socket errors and non-2xx/3xx) of
# a wrk --latency output.
wrk_read() {
    RPS=$(awk '/^Requests\/sec:/ {print $2}' "$1")
    P50=$(wrk_ms "$(awk '$1 == "50%" {print $2}' "$1")")
    P99=$(wrk_ms "$(awk '$1 == "99%" {print $2}' "$1")")
    REQUESTS=$(awk '/requests in/ {print $1}' "$1")
    ERRORS=$(awk '/^ *Socket errors:/ {gsub(/,/, ""); e += $4 + $6 + $8 + $10}
                  /Non-2xx or 3xx responses:/ {e += $NF} END {print e + 0}' "$1")
    [[ -n $RPS && -n $REQUESTS && $REQUESTS -gt 0 ]] || die "could not parse $1"
}

per10k() { # TICKS REQUESTS → CPU-seconds per 10k requests
    awk -v t="$1" -v hz="$CLK_TCK" -v n="$2" 'BEGIN {printf "%.4f", t / hz / n * 10000}'
}

# wrk_measure VARIANT ROUND PIDS... [-- AUX-PIDS...]: `load_cmd VARIANT SECONDS` for WARMUP s
# into raw/VARIANT-rROUND.warmup.txt (WARM_REQUESTS), then for DURATION s into
# raw/VARIANT-rROUND.txt, read by wrk_read. CPU10K: the PIDS' CPU-seconds per 10k requests over
# the measured run; AUX10K the AUX-PIDS' ("-" without).
wrk_measure() {
    local v=$1 raw=$OUT/raw/$1-r$2 before after aux_before=0 aux_after=0
    local -a cmd pids=() aux=()
    shift 2
    while [[ $# -gt 0 && $1 != -- ]]; do pids+=("$1"); shift; done
    if [[ $# -gt 0 ]]; then shift; aux=("$@"); fi
    WARM_REQUESTS=0
    if [[ $WARMUP -gt 0 ]]; then
        mapfile -t cmd < <(load_cmd "$v" "$WARMUP")
        "${cmd[@]}" >"$raw.warmup.txt" 2>&1 || die "warm-up failed: $v (see $raw.warmup.txt)"
        WARM_REQUESTS=$(awk '/requests in/ {print $1}' "$raw.warmup.txt")
    fi
    mapfile -t cmd < <(load_cmd "$v" "$DURATION")
    before=$(cpu_ticks "${pids[@]}")
    if [[ ${#aux[@]} -gt 0 ]]; then aux_before=$(cpu_ticks "${aux[@]}"); fi
    "${cmd[@]}" >"$raw.txt" 2>&1 || die "load run failed: $v (see $raw.txt)"
    after=$(cpu_ticks "${pids[@]}")
    if [[ ${#aux[@]} -gt 0 ]]; then aux_after=$(cpu_ticks "${aux[@]}"); fi
    wrk_read "$raw.txt"
    CPU10K=$(per10k "$((after - before))" "$REQUESTS")
    AUX10K=-
    if [[ ${#aux[@]} -gt 0 ]]; then AUX10K=$(per10k "$((aux_after - aux_before))" "$REQUESTS"); fi
}

# record VARIANT ROUND [VALUE LABEL]: the measured run's row into $RESULTS (VALUE as a last
# column) and a log line.
record() {
    local extra=""
    [[ $# -gt 2 ]] && extra="  $4 $3"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s%s\n' "$1" "$2" "$RPS" "$P50" "$P99" "$CPU10K" "$REQUESTS" "$ERRORS" \
        "${3:+$'\t'$3}" >>"$RESULTS"
    log "$(printf '%-12s round %s: %10s req/s  p50 %7s ms  p99 %7s ms  cpu %s s/10k%s  errors %s' \
        "$1" "$2" "$RPS" "$P50" "$P99" "$CPU10K" "$extra" "$ERRORS")"
}

# each_round FUNCTION: FUNCTION VARIANT ROUND for every round, VARIANTS in order on odd rounds and
# reversed on even ones.
each_round() {
    local round i
    local -a order
    for ((round = 1; round <= ROUNDS; round++)); do
        order=("${VARIANTS[@]}")
        if ((round % 2 == 0)); then
            order=()
            for ((i = ${#VARIANTS[@]} - 1; i >= 0; i--)); do order+=("${VARIANTS[i]}"); done
        fi
        for i in "${order[@]}"; do "$1" "$i" "$round"; done
    done
}

# column_of KEY... COLUMN: COLUMN of the rows of $RESULTS (header left out) whose first fields
# are KEY...
column_of() {
    local keys
    keys=$(IFS=$'\t'; echo "${*:1:$# - 1}")
    awk -F'\t' -v keys="$keys" -v c="${!#}" 'BEGIN {n = split(keys, k, "\t")}
        NR > 1 { for (i = 1; i <= n; i++) if ($i != k[i]) next; print $c }' "$RESULTS"
}
median() { # KEY... COLUMN → median over rounds
    column_of "$@" | sort -g | awk '{v[NR] = $1} END {
        if (NR == 0) { print "nan"; exit }
        if (NR % 2) print v[(NR + 1) / 2]; else printf "%.4f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
rounds_of() { column_of "$@" | awk '{printf "%s%.0f", s, $1; s = " / "}'; } # KEY... COLUMN → "a / b / c"
sum_of() { column_of "$@" | awk '{t += $1} END {print t + 0}'; }           # KEY... COLUMN
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'; }
fmt() { awk -v v="$1" -v d="$2" 'BEGIN { printf "%.*f", d, v }'; }

# target_cell LIMIT-PERCENT VALUE BASELINE: whether 1 − VALUE / BASELINE stays under LIMIT %,
# with the change against the baseline.
target_cell() {
    local change
    change=$(awk -v r="$2" -v b="$3" 'BEGIN { printf "%+.1f %%", (r / b - 1) * 100 }')
    if awk -v r="$2" -v b="$3" -v l="$1" 'BEGIN { exit !((1 - r / b) * 100 < l) }'; then
        echo "< $1 %: met ($change)"
    else
        echo "< $1 %: **missed** ($change)"
    fi
}

# run_paragraph [TOOLS]: the report's lines on the run (command, binary, load, rounds, threads,
# tool versions, TOOLS appended, raw outputs). Reads WEIR_THREADS.
run_paragraph() {
    local load_end repo_head nginx_version wrk_version profile=release
    [[ $WEIR_BIN == */debug/* ]] && profile="debug (not a release build)"
    load_end=$(cut -d' ' -f1-3 /proc/loadavg)
    repo_head=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
    nginx_version=$("$NGINX" -v 2>&1 | sed 's/^nginx version: //')
    wrk_version=$(wrk -v 2>&1 | head -n1 | awk '{print $1, $2}' || true) # wrk -v exits 1
    echo "Run: \`$INVOCATION\` on $(date -u '+%Y-%m-%d %H:%M UTC')."
    echo "weir binary built from commit $WEIR_COMMIT (sha256 $WEIR_SHA…), $profile profile; repo at $repo_head."
    echo "Load average (1/5/15 min) at start $LOAD_START, at end $load_end (the benchmark itself adds ~2 on"
    echo "2 CPUs; more means other work shared the CPUs and req/s is noisy — CPU-seconds per request is"
    echo "the steadier column). Medians over $ROUNDS rounds of ${DURATION} s, each after a ${WARMUP} s warm-up run;"
    echo "variant order $(IFS=,; echo "${VARIANTS[*]}") on odd rounds, reversed on even ones."
    echo "weir threads: $WEIR_THREADS. $wrk_version, nginx $nginx_version${1:-}."
    echo "Raw outputs: bench/results/$BENCH_NAME-$STAMP/ (git-ignored)."
}

errors_line() { # errors of every variant over the rounds
    local v errs=""
    for v in "${VARIANTS[@]}"; do errs+="$v $(sum_of "$v" 8), "; done
    echo "Errors (socket errors or non-2xx/3xx from wrk, all rounds): ${errs%, }."
}
raw_rows() {
    echo "Raw rows:"
    echo
    echo '```'
    { column -t -s $'\t' "$RESULTS" 2>/dev/null || cat "$RESULTS"; }
    echo '```'
}

# finish FUNCTION: what FUNCTION prints (the report) between the `<!-- bench:NAME -->` markers into
# $OUT/NAME.md, into BENCHMARKS.md unless --no-markdown (md_section), then shown.
finish() {
    local file=$OUT/$BENCH_NAME.md
    { echo "<!-- bench:$BENCH_NAME -->"; "$1"; echo "<!-- /bench:$BENCH_NAME -->"; } >"$file"
    if [[ $WRITE_MD -eq 1 ]]; then md_section "$BENCH_NAME" "$file"; fi
    log "results in $OUT"
    cat "$file"
}
