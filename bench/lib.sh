# Shared by bench/run.sh, bench/stream.sh and bench/vision.sh (sourced after each defines
# `log`, `die` and OUT): child processes stopped on exit, free loopback ports, readiness polls,
# CPU time from /proc.

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
    if [[ $rc -ne 0 ]]; then log "failed (exit $rc); logs in $OUT/logs"; fi
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
