#!/usr/bin/env bash
# Built-in middleware cost benchmark (part 1): HTTP/1.1 through weir, side by side in one run.
#
#   bench/middleware.sh [--rounds N] [--duration S] [--warmup S] [--weir PATH] [--weir-commit REV]
#                       [--only VARIANTS] [--no-build] [--no-markdown]
#
# Variants (wrk -t1 -c64 --latency -H 'X-Drop: 1' → proxy → nginx origin, 200 "hello world"),
# the request GET /items/42 under each proxy's prefix:
#   nginx       nginx proxy_pass (the peer)
#   plain       weir, keyless classic API, no middleware (the baseline)
#   middleware  weir, the same API with: an IP allow list (enable_ip_whitelisting, allowed_ips
#               127.0.0.1, 10.0.0.0/8, ::1); use_extended_paths with a white_list of 50 paths
#               (/items/{id} the last), 20 url_rewrites (19 on other paths; /items/(\d+) →
#               /hello?item=$1 the last), transform_headers on /items/{id} (add X-Mw-A, X-Mw-B;
#               delete X-Drop) and global_headers (X-Global)
# Target: the whole set costs < 5 % of plain weir's throughput; the extra cost per request is
# stated as 1/req/s(middleware) − 1/req/s(plain) and as the extra weir CPU per request.
# Every variant is checked with curl before measuring: 200 and the origin's body, and what the
# origin received (it echoes the URI and the headers in X-Got-* response headers): the rewritten
# URI, the added and deleted headers; for middleware also a path not on the white list → 403
# `Requested endpoint is forbidden` and a source address outside the allow list (127.0.0.2) →
# 403 `access from this IP has been disallowed`. A weir that refuses the definition fails the
# run with weir's message (it names the field). --only takes a comma-separated subset of the
# variants (BENCHMARKS.md is written only when all three ran). Each round measures the variants,
# each after a warm-up run, in forward order on odd rounds and reversed on even ones.
#
# Pinning as bench/run.sh: origin and wrk on CPU 0; proxies (nginx, both weirs) on CPU 1. The
# two weir variants are two weir processes with the same tyk.conf, one API each, so neither
# shares its gateway with the other's API. Ports are picked free at run time; everything started
# here is stopped on exit. --weir PATH measures a prebuilt binary (implies --no-build); its
# commit is --weir-commit, else the first word of PATH.commit, else "unknown". Raw outputs go to
# bench/results/middleware-<UTC stamp>/; the `<!-- bench:middleware -->` section of
# BENCHMARKS.md is replaced (or appended), nothing else. Tools: nginx and wrk (bench/install.sh),
# taskset, curl, ss.
set -euo pipefail

ALL_VARIANTS=(nginx plain middleware)
VARIANTS=("${ALL_VARIANTS[@]}")
TARGET=5 # most throughput the middleware set may cost against plain weir, percent
REQ_PATH=/items/42
usage() { sed -n '2,34p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "middleware.sh: error: $*" >&2; exit 1; }
log() { echo "middleware.sh: $*" >&2; }
own_arg() { # --only VARIANTS (see bench_start in lib.sh)
    [[ $1 == --only ]] || return 0
    IFS=, read -ra VARIANTS <<<"$2"
    local v
    for v in "${VARIANTS[@]}"; do
        [[ " ${ALL_VARIANTS[*]} " == *" $v "* ]] ||
            { echo "$ME: unknown variant '$v' (${ALL_VARIANTS[*]})" >&2; exit 2; }
    done
    ARGS_USED=2
}

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$REPO/bench/lib.sh"
# ROUNDS=3, DURATION=10, WARMUP=2, CONNS=64 unless the options say otherwise (bench_start, lib.sh).
bench_start middleware "$@"
[[ ${#VARIANTS[@]} -gt 0 ]] || die "--only names no variant"
want() { [[ " ${VARIANTS[*]} " == *" $1 "* ]]; }
mkdir -p "$OUT"/{weir-plain/apps,weir-mw/apps}

bench_tools nginx wrk taskset curl ss awk sort
weir_binary

# ---------------------------------------------------------------- configs
ports ORIGIN NGX WEIR_PLAIN WEIR_MW

# The origin answers every path, and reports what it received. Each echo starts with '=' so
# it is never empty: nginx leaves out a header whose value is empty, and every variant must
# get the same response headers, or the proxy that sends fewer headers would parse fewer.
# shellcheck disable=SC2016 # nginx variables
nginx_origin_conf 'add_header X-Got-Uri =$request_uri; add_header X-Got-A =$http_x_mw_a;
            add_header X-Got-B =$http_x_mw_b; add_header X-Got-Global =$http_x_global;
            add_header X-Got-Drop =$http_x_drop; ' >"$OUT/conf/origin.conf"
nginx_proxy_conf "$NGX_PORT" >"$OUT/conf/proxy.conf"

# The middleware API's extended_paths, in Tyk's classic shape. The benchmarked endpoint is the
# last entry of each list, so a matcher that walks the list pays for all of it.
GET_NO_ACTION='{"GET":{"action":"no_action","code":200,"data":"","headers":{}}}'
extended_paths() {
    local i white="" rewrites=""
    for ((i = 1; i <= 49; i++)); do
        white+="{\"path\":\"/p$i/{id}\",\"method_actions\":$GET_NO_ACTION},"
    done
    white+="{\"path\":\"/items/{id}\",\"method_actions\":$GET_NO_ACTION}"
    # shellcheck disable=SC2016 # $1 is Tyk's capture group
    for ((i = 1; i <= 19; i++)); do
        rewrites+=$(printf '{"path":"/p%d/{id}","method":"GET","match_pattern":"/p%d/(\\\\d+)","rewrite_to":"/hello?p=%d&id=$1"},' \
            "$i" "$i" "$i")
    done
    # shellcheck disable=SC2016
    rewrites+='{"path":"/items/{id}","method":"GET","match_pattern":"/items/(\\d+)","rewrite_to":"/hello?item=$1"}'
    cat <<EOF
,
   "use_extended_paths":true,
   "global_headers":{"X-Global":"g"},
   "extended_paths":{
    "white_list":[$white],
    "url_rewrites":[$rewrites],
    "transform_headers":[{"path":"/items/{id}","method":"GET",
     "delete_headers":["X-Drop"],"add_headers":{"X-Mw-A":"a","X-Mw-B":"b"}}]}
EOF
}
gateway_conf "$WEIR_PLAIN_PORT" "" >"$OUT/weir-plain/weir.json"
gateway_conf "$WEIR_MW_PORT" "" >"$OUT/weir-mw/weir.json"
api_def plain true "" >"$OUT/weir-plain/apps/plain.json"
api_def mw true ',
 "enable_ip_whitelisting":true,"allowed_ips":["127.0.0.1","10.0.0.0/8","::1"]' "$(extended_paths)" \
    >"$OUT/weir-mw/apps/mw.json"
cp "$OUT/weir-plain/weir.json" "$OUT/conf/weir.json"
cp "$OUT/weir-plain/apps/plain.json" "$OUT/weir-mw/apps/mw.json" "$OUT/conf/"
if command -v python3 >/dev/null 2>&1; then
    python3 -m json.tool "$OUT/conf/mw.json" >/dev/null || die "conf/mw.json is not valid JSON"
fi

# ---------------------------------------------------------------- processes
start_nginx origin "origin nginx" 0 "$ORIGIN_PORT" /
if want nginx; then start_peer_proxy "$NGX_PORT"; fi
dir_of() { case $1 in plain) echo weir-plain ;; middleware) echo weir-mw ;; esac; } # VARIANT → weir's
weir_said() { # VARIANT → for a failure message: the last lines its weir wrote (a refusal names the field)
    [[ $1 == nginx ]] && return 0
    echo "; weir's last output ($OUT/logs/$(dir_of "$1").{err,out}):"
    tail -q -n 5 "$OUT/logs/$(dir_of "$1").err" "$OUT/logs/$(dir_of "$1").out" 2>/dev/null
}
weir_up() { # VARIANT PORT → WEIR_PID; a weir that exits (e.g. refusing the API) ends the run
    log "starting weir ($1) on :$2 (CPU 1)"
    start_weir "$(dir_of "$1")"
    wait_until "weir ($1)" "$STARTED" 10 curl -fsS "http://127.0.0.1:$2/hello" ||
        die "weir ($1) did not start$(weir_said "$1")"
    WEIR_PID=$STARTED
}
if want plain; then weir_up plain "$WEIR_PLAIN_PORT"; WEIR_PLAIN_PID=$WEIR_PID; fi
if want middleware; then weir_up middleware "$WEIR_MW_PORT"; WEIR_MW_PID=$WEIR_PID; fi

# ---------------------------------------------------------------- variants
port_of() {
    case $1 in nginx) echo "$NGX_PORT" ;; plain) echo "$WEIR_PLAIN_PORT" ;; middleware) echo "$WEIR_MW_PORT" ;; esac
}
prefix_of() {
    case $1 in nginx) echo /bench ;; plain) echo /plain ;; middleware) echo /mw ;; esac
}
pids_of() {
    case $1 in nginx) echo "${NGX_ALL[@]}" ;; plain) echo "$WEIR_PLAIN_PID" ;; middleware) echo "$WEIR_MW_PID" ;; esac
}
describe() {
    case $1 in
        nginx) echo "nginx proxy_pass" ;;
        plain) echo "weir, keyless API, no middleware" ;;
        middleware) echo "weir, the same API + IP allow list, 50-path white list, 20 URL rewrites, header transforms" ;;
    esac
}
url_of() { echo "http://127.0.0.1:$(port_of "$1")$(prefix_of "$1")${2:-$REQ_PATH}"; }

# ---------------------------------------------------------------- sanity checks
got() { # HEADER-FILE NAME → the value of the origin's echo NAME (its leading '=' taken off)
    awk -F': ' -v n="$(tr '[:upper:]' '[:lower:]' <<<"$2")" \
        'tolower($1) == n {sub(/\r$/, "", $2); sub(/^=/, "", $2); print $2}' "$1"
}
expect() { # VARIANT WHAT ACTUAL EXPECTED
    [[ $3 == "$4" ]] || die "$1: $2 is '$3', not '$4' (see $OUT/raw/check-$1.txt)"
}
check() { # VARIANT
    local v=$1 hdrs=$OUT/raw/check-$1.txt body uri=$REQ_PATH a="" b="" global="" drop=1
    body=$(curl -fsS -D "$hdrs" -H 'X-Drop: 1' "$(url_of "$v")") ||
        die "$v: request failed ($(url_of "$v"))$(weir_said "$v")"
    expect "$v" "the body" "$body" "hello world"
    if [[ $v == middleware ]]; then uri="/hello?item=42" a=a b=b global=g drop=""; fi
    # Tyk's rewrite replaces the whole URL; the origin's path may keep the listen path or not.
    [[ $(got "$hdrs" X-Got-Uri) == *"$uri" ]] ||
        die "$v: the origin got $(got "$hdrs" X-Got-Uri), not …$uri (see $hdrs)"
    expect "$v" "X-Mw-A at the origin" "$(got "$hdrs" X-Got-A)" "$a"
    expect "$v" "X-Mw-B at the origin" "$(got "$hdrs" X-Got-B)" "$b"
    expect "$v" "X-Global at the origin" "$(got "$hdrs" X-Got-Global)" "$global"
    expect "$v" "X-Drop at the origin" "$(got "$hdrs" X-Got-Drop)" "$drop"
    log "$v: 200 hello world; the origin got $(got "$hdrs" X-Got-Uri)${a:+, X-Mw-A/B, X-Global, no X-Drop}"
}
refused() { # VARIANT PATH STATUS MESSAGE [CURL-ARGS...]
    local answer
    answer=$(curl -sS -w '\n%{http_code}' "${@:5}" "$(url_of "$1" "$2")") || die "$1: request to $2 failed"
    [[ ${answer##*$'\n'} == "$3" && $answer == *"$4"* ]] ||
        die "$1: $2 ${*:5} is answered ${answer//$'\n'/ }, not $3 \"$4\""
    log "$1: $2${5:+ ${*:5}} → $3 $4"
}
for v in "${VARIANTS[@]}"; do check "$v"; done
if want middleware; then
    refused middleware /nope/42 403 "Requested endpoint is forbidden"
    refused middleware "$REQ_PATH" 403 "access from this IP has been disallowed" --interface 127.0.0.2
fi
if want plain; then
    WEIR_THREADS=$(threads_of "$WEIR_PLAIN_PID")
elif want middleware; then
    WEIR_THREADS=$(threads_of "$WEIR_MW_PID")
else
    WEIR_THREADS=-
fi
log "weir threads: $WEIR_THREADS"

# ---------------------------------------------------------------- measuring
RESULTS=$OUT/results.tsv
printf 'variant\tround\treq_per_s\tp50_ms\tp99_ms\tproxy_cpu_s_per_10k\trequests\terrors\n' >"$RESULTS"

load_cmd() { wrk_args "$2" "$(url_of "$1")" "X-Drop: 1"; } # VARIANT SECONDS (for wrk_measure)

measure() { # VARIANT ROUND
    local -a pids
    read -ra pids <<<"$(pids_of "$1")"
    wrk_measure "$1" "$2" "${pids[@]}"
    record "$1" "$2"
}
each_round measure

# ---------------------------------------------------------------- report
# µs per request: 10^6 / req/s (the proxy's core time per request when it is the bottleneck),
# and CPU-s per 10k requests × 100.
us_per_req() { awk -v r="$1" 'BEGIN { if (r + 0 == 0) print "nan"; else printf "%.2f", 1e6 / r }'; }
cpu_us() { awk -v c="$1" 'BEGIN { printf "%.2f", c * 100 }'; }
diff2() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.2f", a - b }'; }

section() {
    local v rps cpu base base_cpu nrps vs_plain extra extra_cpu target cpu_target
    echo "## Built-in middleware, part 1: IP allow list, 50-path white list, 20 URL rewrites, header transforms — wrk → proxy → nginx origin"
    echo
    run_paragraph ""
    echo
    echo "Load command, one per variant per round (PREFIX: bench for nginx, plain and mw for weir):"
    echo
    echo '```'
    echo "taskset -c 0 wrk -t1 -c$CONNS -d${DURATION}s --latency -H 'X-Drop: 1' http://127.0.0.1:PORT/PREFIX$REQ_PATH"
    echo '```'
    echo
    cat <<NOTE
- Pinning: nginx origin and wrk on CPU 0; the proxy under load (nginx, or one of two weir
  processes with the same tyk.conf, one API each) on CPU 1. Access logs off everywhere.
- The origin answers every path \`200 "hello world\\n"\` and echoes what it received in
  \`X-Got-Uri\`, \`X-Got-A\`, \`X-Got-B\`, \`X-Got-Global\`, \`X-Got-Drop\` response headers,
  each value prefixed with \`=\` so that none is ever empty (nginx leaves out an empty header):
  every variant gets the same five headers back (the checks read them).
- plain: classic keyless API \`/plain/\` (strip_listen_path), \`not_versioned\`, no middleware.
- middleware: the same API at \`/mw/\` with \`enable_ip_whitelisting: true\`,
  \`allowed_ips: ["127.0.0.1", "10.0.0.0/8", "::1"]\` and, in \`version_data.versions.Default\`,
  \`use_extended_paths: true\`, \`global_headers: {"X-Global": "g"}\` and \`extended_paths\` with
  - \`white_list\`: 50 entries, \`/p1/{id}\` … \`/p49/{id}\` then \`/items/{id}\`, each
    \`method_actions: {"GET": {"action": "no_action", "code": 200, "data": "", "headers": {}}}\`;
  - \`url_rewrites\`: 20 entries, \`/p1/{id}\` … \`/p19/{id}\` (\`match_pattern\` \`/pN/(\\d+)\`)
    then \`/items/{id}\` GET, \`match_pattern\` \`/items/(\\d+)\` → \`rewrite_to\` \`/hello?item=\$1\`;
  - \`transform_headers\` on \`/items/{id}\` GET: add \`X-Mw-A\`, \`X-Mw-B\`, delete \`X-Drop\`.
  The benchmarked endpoint is the last entry of each list. Definitions: conf/ in the raw outputs.
- Checked before measuring: every variant answers 200 \`hello world\` to GET …$REQ_PATH; at the
  origin, plain and nginx deliver $REQ_PATH with \`X-Drop\` and none of the added headers;
  middleware delivers \`/hello?item=42\` with \`X-Mw-A\`, \`X-Mw-B\`, \`X-Global\` and no
  \`X-Drop\`; middleware answers \`/mw/nope/42\` (not on the white list) 403 \`Requested endpoint
  is forbidden\` and a request from 127.0.0.2 (outside the allow list) 403 \`access from this IP
  has been disallowed\`.
- Extra cost per request = 10⁶ ÷ req/s (middleware) − 10⁶ ÷ req/s (plain), in µs: the extra time
  of weir's one core per request when the core is the bottleneck. Extra CPU per request = the
  difference of weir's utime+stime per request (CPU-s / 10k req × 100 = µs), the steadier figure
  on a shared machine. Throughput cost = 1 − req/s ÷ plain weir's req/s (medians); the target
  (< $TARGET %) is on it; "cost implied by CPU" = 1 − plain's CPU ÷ middleware's CPU per request.
NOTE
    echo
    echo "| variant | what | req/s | vs plain weir | vs nginx | µs / req (10⁶ ÷ req/s) | extra µs / req vs plain | target: throughput cost vs plain | p50 ms | p99 ms | proxy CPU-s / 10k req | CPU µs / req | extra CPU µs / req vs plain | target: cost implied by CPU | req/s per round |"
    echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- | --- |"
    base=$(median plain 3)
    base_cpu=$(median plain 6)
    nrps=$(median nginx 3)
    for v in "${VARIANTS[@]}"; do
        rps=$(median "$v" 3)
        cpu=$(median "$v" 6)
        vs_plain=$(ratio "$rps" "$base")
        extra="—" extra_cpu="—" target="—" cpu_target="—"
        case $v in
            plain) target=baseline cpu_target=baseline ;;
            middleware)
                extra=$(diff2 "$(us_per_req "$rps")" "$(us_per_req "$base")")
                extra_cpu=$(diff2 "$(cpu_us "$cpu")" "$(cpu_us "$base_cpu")")
                target=$(target_cell "$TARGET" "$rps" "$base")
                # Were weir CPU-bound, its req/s would scale as 1 / CPU per request.
                cpu_target=$(target_cell "$TARGET" "$base_cpu" "$cpu") ;;
        esac
        echo "| $v | $(describe "$v") | $(fmt "$rps" 0) | $vs_plain | $(ratio "$rps" "$nrps") | $(us_per_req "$rps") | $extra | $target | $(fmt "$(median "$v" 4)" 3) | $(fmt "$(median "$v" 5)" 3) | $(fmt "$cpu" 4) | $(cpu_us "$cpu") | $extra_cpu | $cpu_target | $(rounds_of "$v" 3) |"
    done
    echo
    if want plain && want middleware; then
        rps=$(median middleware 3)
        cpu=$(median middleware 6)
        echo "Summary: the middleware set adds **$(diff2 "$(us_per_req "$rps")" "$(us_per_req "$base")") µs per request**"
        echo "(10⁶ ÷ req/s) and $(diff2 "$(cpu_us "$cpu")" "$(cpu_us "$base_cpu")") µs of weir CPU per request; throughput target $(target_cell "$TARGET" "$rps" "$base")."
        echo
    fi
    errors_line
    echo
    raw_rows
}

if [[ $WRITE_MD -eq 1 && ${#VARIANTS[@]} -ne ${#ALL_VARIANTS[@]} ]]; then
    log "not writing BENCHMARKS.md: only $(IFS=,; echo "${VARIANTS[*]}") ran"
    WRITE_MD=0
fi
finish section
