#!/usr/bin/env bash
# Authentication cost benchmark: HTTP/1.1 through weir, side by side in one run.
#
#   bench/auth.sh [--rounds N] [--duration S] [--warmup S] [--weir PATH] [--weir-commit REV]
#                 [--no-build] [--no-markdown]
#
# Variants (wrk -t1 -c64 --latency → proxy → nginx origin, return 200 "hello world"):
#   nginx         nginx proxy_pass (the peer)
#   keyless       weir, keyless API (the baseline for the cost targets)
#   token-memory  weir, auth token in Authorization; the key's rate limit (10000000 per 1 s,
#                 never trips) and quota (quota_max 10^12, counted on every request) kept in
#                 weir's memory
#   token-redis   the same API and key on a second weir whose tyk.conf has a Redis `storage`
#                 (keys, rate log and quota in a redis-server started here)
#   token-redis-lf  the same on a third weir with Weir's `local_first_limits` (permits taken
#                 LF_BATCH at a time, default 100, used from memory for LF_LEASE_MS, default 100)
#   jwt-rs256     weir, RS256 JWT (`Authorization: Bearer …`), jwt_source a PEM public key,
#                 the `pol` claim names a file policy granting the API (no limits); one token,
#                 so after the first request its verification comes from weir's token cache
# Targets (throughput lost against keyless weir): token-memory < 10 %, token-redis (and -lf)
# < 30 %, jwt-rs256 < 15 %. Every variant is checked with curl (200 and the origin's body; no key 401,
# a bad signature 403) before measuring. Each round measures all variants, each after a warm-up
# run, in forward order on odd rounds and reversed on even ones. After the rounds: Redis
# commands per token-redis request (commandstats and MONITOR over a fixed number of requests)
# and the quota count read back from X-RateLimit-Remaining.
#
# Pinning as bench/run.sh: origin, wrk and redis-server on CPU 0; proxies (nginx, both weirs)
# on CPU 1. Ports are picked free at run time; everything started here is stopped on exit.
# --weir PATH measures a prebuilt binary (implies --no-build); its commit is --weir-commit,
# else the first word of PATH.commit if that file exists, else "unknown". The RSA key and
# the JWT are made here with openssl. Raw outputs go to bench/results/auth-<UTC stamp>/; the
# `<!-- bench:auth -->` section of BENCHMARKS.md is replaced (or appended), nothing else.
# Tools: nginx and wrk (bench/install.sh), redis-server, redis-cli, openssl, taskset, curl, ss.
set -euo pipefail

# The fixed number of requests over which Redis commands per request are counted.
RT_REQUESTS=1000
VARIANTS=(nginx keyless token-memory token-redis token-redis-lf jwt-rs256)
# Local-first limits for the token-redis-lf variant (Weir's `local_first_limits`).
LF_BATCH=${LF_BATCH:-100}
LF_LEASE_MS=${LF_LEASE_MS:-100}
usage() { sed -n '2,31p' "$0" | sed 's/^# \{0,1\}//'; }

die() { echo "auth.sh: error: $*" >&2; exit 1; }
log() { echo "auth.sh: $*" >&2; }

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$REPO/bench/lib.sh"
# ROUNDS=3, DURATION=10, WARMUP=2, CONNS=64 unless the options say otherwise (bench_start, lib.sh).
bench_start auth "$@"
mkdir -p "$OUT"/{redis,jwt,weir-mem/apps,weir-redis/apps,weir-lf/apps}

# ---------------------------------------------------------------- tools, weir binary
bench_tools nginx wrk redis-server redis-cli openssl taskset curl ss awk sort base64
weir_binary

# ---------------------------------------------------------------- processes
ports ORIGIN NGX REDIS WEIR_MEM WEIR_REDIS WEIR_LF

nginx_origin_conf "" >"$OUT/conf/origin.conf"
nginx_proxy_conf "$NGX_PORT" >"$OUT/conf/proxy.conf"

# ---- the RSA key and the JWT (RS256), made with openssl
b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$OUT/jwt/rsa.key" 2>/dev/null ||
    die "openssl could not make an RSA key"
openssl pkey -in "$OUT/jwt/rsa.key" -pubout -out "$OUT/jwt/rsa.pub" || die "openssl could not write the public key"
JWT_SOURCE=$(base64 -w0 <"$OUT/jwt/rsa.pub")
NOW=$(date +%s)
jwt_sign() { # CLAIMS-JSON → header.claims.signature, RS256
    local input
    input="$(printf '%s' '{"alg":"RS256","typ":"JWT"}' | b64url).$(printf '%s' "$1" | b64url)"
    printf '%s.%s' "$input" "$(printf '%s' "$input" | openssl dgst -sha256 -sign "$OUT/jwt/rsa.key" -binary | b64url)"
}
JWT=$(jwt_sign "{\"sub\":\"bench-user\",\"pol\":\"jwt-bench\",\"iat\":$NOW,\"exp\":$((NOW + 86400))}")
[[ $JWT =~ ^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$ ]] || die "the JWT is malformed: $JWT"
# The same claims with the last signature character changed: must be refused.
BAD_JWT=${JWT%?}
if [[ ${JWT: -1} == A ]]; then BAD_JWT+=B; else BAD_JWT+=A; fi
echo "$JWT" >"$OUT/jwt/token.jwt"

# ---- weir: one gateway on the memory store (keyless, token, jwt), one on Redis (token)
gateway_conf "$WEIR_MEM_PORT" ',
  "policies": { "policy_source": "file", "policy_path": "policies.json" }' >"$OUT/weir-mem/weir.json"
gateway_conf "$WEIR_REDIS_PORT" ",
  \"storage\": { \"type\": \"redis\", \"host\": \"127.0.0.1\", \"port\": $REDIS_PORT }" >"$OUT/weir-redis/weir.json"
gateway_conf "$WEIR_LF_PORT" ",
  \"storage\": { \"type\": \"redis\", \"host\": \"127.0.0.1\", \"port\": $REDIS_PORT },
  \"local_first_limits\": { \"enabled\": true, \"batch\": $LF_BATCH, \"lease_ms\": $LF_LEASE_MS }" >"$OUT/weir-lf/weir.json"
api_def keyless true "" >"$OUT/weir-mem/apps/keyless.json"
api_def token false "" >"$OUT/weir-mem/apps/token.json"
api_def token false "" >"$OUT/weir-redis/apps/token.json"
api_def token false "" >"$OUT/weir-lf/apps/token.json"
api_def jwt false ",
 \"enable_jwt\":true,\"jwt_signing_method\":\"rsa\",\"jwt_source\":\"$JWT_SOURCE\",\"jwt_policy_field_name\":\"pol\"" \
    >"$OUT/weir-mem/apps/jwt.json"
cat >"$OUT/weir-mem/policies.json" <<'EOF'
{"jwt-bench":{"id":"jwt-bench","name":"jwt-bench","org_id":"o","active":true,
 "rate":0,"per":0,"quota_max":-1,
 "access_rights":{"jwt":{"api_id":"jwt","api_name":"jwt","versions":["Default"]}}}}
EOF
QUOTA_MAX=1000000000000
SESSION="{\"org_id\":\"o\",\"rate\":10000000,\"per\":1,\"quota_max\":$QUOTA_MAX,\"quota_renewal_rate\":3600,
 \"access_rights\":{\"token\":{\"api_id\":\"token\",\"api_name\":\"token\",\"versions\":[\"Default\"]}}}"
echo "$SESSION" >"$OUT/conf/session.json"
cp "$OUT/weir-mem/weir.json" "$OUT/conf/weir-mem.json"
cp "$OUT/weir-redis/weir.json" "$OUT/conf/weir-redis.json"
cp "$OUT/weir-lf/weir.json" "$OUT/conf/weir-lf.json"
cp "$OUT/weir-mem/policies.json" "$OUT/conf/"
for f in "$OUT"/weir-mem/apps/*.json; do cp "$f" "$OUT/conf/mem-$(basename "$f")"; done

start_nginx origin "origin nginx" 0 "$ORIGIN_PORT" /
start_peer_proxy "$NGX_PORT"

log "starting redis-server on :$REDIS_PORT (CPU 0)"
taskset -c 0 redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$OUT/redis" --logfile "$OUT/logs/redis.log" >"$OUT/logs/redis.out" 2>&1 &
REDIS_PID=$!
PIDS+=("$REDIS_PID")
rcli() { redis-cli -p "$REDIS_PORT" "$@"; }
ready "redis-server" "$REDIS_PID" rcli ping

log "starting weir (memory store) on :$WEIR_MEM_PORT and weir (Redis store) on :$WEIR_REDIS_PORT (CPU 1)"
start_weir weir-mem
WEIR_MEM_PID=$STARTED
start_weir weir-redis
WEIR_REDIS_PID=$STARTED
ready "weir (memory)" "$WEIR_MEM_PID" curl -fsS "http://127.0.0.1:$WEIR_MEM_PORT/hello"
ready "weir (Redis)" "$WEIR_REDIS_PID" curl -fsS "http://127.0.0.1:$WEIR_REDIS_PORT/hello"
log "starting weir (Redis store, local-first limits) on :$WEIR_LF_PORT (CPU 1)"
start_weir weir-lf
WEIR_LF_PID=$STARTED
ready "weir (local-first)" "$WEIR_LF_PID" curl -fsS "http://127.0.0.1:$WEIR_LF_PORT/hello"

# ---- the keys, made through each gateway's control API
make_key() { # PORT → the key
    local answer key
    answer=$(curl -fsS -X POST -H 'X-Tyk-Authorization: bench' -H 'content-type: application/json' \
        --data-binary "$SESSION" "http://127.0.0.1:$1/tyk/keys") || die "POST /tyk/keys on :$1 failed"
    key=$(sed -n 's/.*"key":"\([^"]*\)".*/\1/p' <<<"$answer")
    [[ -n $key ]] || die "POST /tyk/keys on :$1: no key in the answer: $answer"
    echo "$key"
}
KEY_MEM=$(make_key "$WEIR_MEM_PORT")
KEY_REDIS=$(make_key "$WEIR_REDIS_PORT")
KEY_LF=$(make_key "$WEIR_LF_PORT")
[[ -n $(rcli --scan --pattern 'apikey-*') ]] || die "the Redis weir stored no apikey-* in Redis"

# ---------------------------------------------------------------- variants
port_of() {
    case $1 in
        nginx) echo "$NGX_PORT" ;;
        token-redis) echo "$WEIR_REDIS_PORT" ;;
        token-redis-lf) echo "$WEIR_LF_PORT" ;;
        *) echo "$WEIR_MEM_PORT" ;;
    esac
}
path_of() {
    case $1 in
        nginx) echo /bench/ ;;
        keyless) echo /keyless/ ;;
        token-*) echo /token/ ;;
        jwt-rs256) echo /jwt/ ;;
    esac
}
auth_of() { # VARIANT → the Authorization header value, or nothing
    case $1 in
        token-memory) echo "$KEY_MEM" ;;
        token-redis) echo "$KEY_REDIS" ;;
        token-redis-lf) echo "$KEY_LF" ;;
        jwt-rs256) echo "Bearer $JWT" ;;
    esac
}
shown_auth_of() {
    case $1 in
        token-*) echo KEY ;;
        jwt-rs256) echo "Bearer JWT" ;;
    esac
}
describe() {
    case $1 in
        nginx) echo "nginx proxy_pass" ;;
        keyless) echo "weir, keyless API" ;;
        token-memory) echo "weir, auth token; rate limit + quota in memory" ;;
        token-redis) echo "weir, auth token; key, rate limit + quota in Redis" ;;
        token-redis-lf) echo "weir, auth token on Redis with local-first limits (batch $LF_BATCH, lease $LF_LEASE_MS ms)" ;;
        jwt-rs256) echo "weir, JWT RS256 (verification cached per token), file policy" ;;
    esac
}
target_of() { # VARIANT → max throughput cost against keyless weir, percent
    case $1 in
        token-memory) echo 10 ;;
        token-redis | token-redis-lf) echo 30 ;;
        jwt-rs256) echo 15 ;;
    esac
}
url_of() { echo "http://127.0.0.1:$(port_of "$1")$(path_of "$1")"; }

# Requests each gateway counted against the keys' quotas should equal what was sent.
declare -A SENT=([token-memory]=0 [token-redis]=0)
sent() { # VARIANT N
    if [[ -n ${SENT[$1]+x} ]]; then SENT[$1]=$((SENT[$1] + $2)); fi
}

# ---------------------------------------------------------------- sanity checks
check() { # VARIANT
    local v=$1 auth body code
    auth=$(auth_of "$v")
    local -a h=()
    [[ -n $auth ]] && h=(-H "Authorization: $auth")
    body=$(curl -fsS "${h[@]}" "$(url_of "$v")") || die "$v: request failed ($(url_of "$v"))"
    [[ $body == "hello world" ]] || die "$v: unexpected body: $body"
    sent "$v" 1
    if [[ -n $auth ]]; then
        code=$(curl -s -o /dev/null -w '%{http_code}' "$(url_of "$v")")
        [[ $code == 401 || $code == 400 ]] || die "$v: without a credential the answer is $code, not 401/400"
    fi
    log "$v: 200 hello world$([[ -n $auth ]] && echo ", $code without a credential")"
}
for v in "${VARIANTS[@]}"; do check "$v"; done
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $BAD_JWT" "$(url_of jwt-rs256)")
[[ $code == 403 ]] || die "jwt-rs256: a token with a bad signature is answered $code, not 403"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: nope" "$(url_of token-memory)")
[[ $code == 403 ]] || die "token-memory: an unknown key is answered $code, not 403"
# The quota is counted: X-RateLimit-Remaining falls by one per request.
remaining() { # VARIANT → X-RateLimit-Remaining of one request (the request is counted)
    local v=$1
    curl -fsS -o /dev/null -D - -H "Authorization: $(auth_of "$v")" "$(url_of "$v")" |
        awk -F': ' 'tolower($1) == "x-ratelimit-remaining" {sub(/\r$/, "", $2); print $2}'
}
for v in token-memory token-redis; do
    r1=$(remaining "$v")
    r2=$(remaining "$v")
    sent "$v" 2
    [[ -n $r1 && $((r1 - r2)) -eq 1 ]] || die "$v: the quota is not counted per request (remaining $r1, then $r2)"
    log "$v: quota counted (X-RateLimit-Remaining $r1 → $r2)"
done

WEIR_THREADS=$(threads_of "$WEIR_MEM_PID")
log "weir threads: $WEIR_THREADS"

# ---------------------------------------------------------------- measuring
RESULTS=$OUT/results.tsv
printf 'variant\tround\treq_per_s\tp50_ms\tp99_ms\tweir_cpu_s_per_10k\trequests\terrors\tredis_cpu_s_per_10k\n' >"$RESULTS"

load_cmd() { # VARIANT SECONDS → the load command, one argument per line (for wrk_measure)
    local auth
    auth=$(auth_of "$1")
    wrk_args "$2" "$(url_of "$1")" ${auth:+"Authorization: $auth"}
}
shown_cmd() { # VARIANT → as BENCHMARKS.md shows it (PORT, KEY and JWT for the values)
    local auth
    auth=$(shown_auth_of "$1")
    echo "taskset -c 0 wrk -t1 -c$CONNS -d${DURATION}s --latency${auth:+ -H 'Authorization: $auth'} http://127.0.0.1:PORT$(path_of "$1")"
}

measure() { # VARIANT ROUND
    local v=$1 round=$2 redis10k=-
    local -a pids
    case $v in
        nginx) pids=("${NGX_ALL[@]}") ;;
        token-redis) pids=("$WEIR_REDIS_PID") ;;
        token-redis-lf) pids=("$WEIR_LF_PID") ;;
        *) pids=("$WEIR_MEM_PID") ;;
    esac
    wrk_measure "$v" "$round" "${pids[@]}" -- "$REDIS_PID"
    sent "$v" "$((WARM_REQUESTS + REQUESTS))"
    if [[ $v == token-redis* ]]; then redis10k=$AUX10K; fi
    record "$v" "$round" "$redis10k" "redis cpu"
}
each_round measure

# ---------------------------------------------------------------- Redis round trips
# commandstats counts commands a script runs too, MONITOR marks those "[0 lua]": the client's
# own commands (round trips, as weir does not pipeline one request's commands) are the rest.
cmdstats() { rcli info commandstats | tr -d '\r' | sed -n 's/^cmdstat_\([^:]*\):calls=\([0-9]*\),.*/\1 \2/p'; }
cmdstats >"$OUT/raw/redis-cmdstats-before.txt"
rcli monitor >"$OUT/raw/redis-monitor.txt" 2>&1 &
MON_PID=$!
PIDS+=("$MON_PID")
sleep 0.5
: >"$OUT/conf/rt-urls.txt"
for ((i = 0; i < RT_REQUESTS; i++)); do
    printf 'url = "%s"\noutput = "/dev/null"\n' "$(url_of token-redis)" >>"$OUT/conf/rt-urls.txt"
done
RT_OK=$(curl -s -K "$OUT/conf/rt-urls.txt" -H "Authorization: $KEY_REDIS" -w '%{http_code}\n' | grep -c '^200$' || true)
sent token-redis "$RT_OK"
sleep 0.5
kill -TERM "$MON_PID" 2>/dev/null || true
wait "$MON_PID" 2>/dev/null || true
PIDS=("${PIDS[@]:0:${#PIDS[@]}-1}") # stopped: not again on exit (its pid may be reused)
cmdstats >"$OUT/raw/redis-cmdstats-after.txt"
[[ $RT_OK -eq $RT_REQUESTS ]] || die "round trips: $RT_OK of $RT_REQUESTS requests answered 200"
# Every command's calls over the requests (the info and monitor commands of this script left out).
RT_ALL=$(awk -v n="$RT_REQUESTS" 'NR == FNR {b[$1] = $2; next}
    $1 != "info" && $1 != "monitor" && $2 - b[$1] > 0 {printf "%s%s %d", s, $1, $2 - b[$1]; s = ", "}' \
    "$OUT/raw/redis-cmdstats-before.txt" "$OUT/raw/redis-cmdstats-after.txt")
RT_TOP=$(awk -v n="$RT_REQUESTS" '/^[0-9.]+ \[/ && !/\[[0-9]+ lua\]/ {
        c = $4; gsub(/"/, "", c); c = tolower(c); if (c == "info" || c == "monitor") next; k[c]++; t++ }
    END { for (c in k) { printf "%s%s %d", s, c, k[c]; s = ", " }; printf "\t%.3f\n", t / n }' \
    "$OUT/raw/redis-monitor.txt")
RT_PER_REQ=${RT_TOP##*$'\t'}
RT_TOP=${RT_TOP%$'\t'*}
log "Redis, per token-redis request: $RT_PER_REQ round trips ($RT_TOP); all commands incl. in scripts: $RT_ALL"

# ---------------------------------------------------------------- the quota count
QUOTA_LINES=()
for v in token-memory token-redis; do
    r=$(remaining "$v")
    sent "$v" 1
    counted=$((QUOTA_MAX - r))
    QUOTA_LINES+=("$v: counted $counted, completed ${SENT[$v]} (difference $((counted - SENT[$v])))")
    log "quota $v: counted $counted, requests completed ${SENT[$v]}"
done

# ---------------------------------------------------------------- report
# (median, rounds_of, ratio, fmt, target_cell, run_paragraph, errors_line, raw_rows, finish: lib.sh)
REDIS_VERSION=$(redis-server --version | awk '{print $3}' | sed 's/^v=//')

verdict() { # VARIANT LIMIT-PERCENT VALUE BASELINE → the target cell; cost = 1 − VALUE / BASELINE
    if [[ $1 == keyless ]]; then
        echo "baseline"
    elif [[ -z $2 ]]; then
        echo "—"
    else
        target_cell "$2" "$3" "$4"
    fi
}

section() {
    local v rps base nrps limit verdict cpu_verdict cpu base_cpu r10k
    base=$(median keyless 3)
    nrps=$(median nginx 3)
    base_cpu=$(median keyless 6)
    echo "## Auth: keyless vs auth token (memory, Redis) vs JWT RS256 — wrk → proxy → nginx origin"
    echo
    run_paragraph ", Redis $REDIS_VERSION"
    echo
    echo "Load command, one per variant per round (PORT, KEY and JWT filled in at run time):"
    echo
    echo '```'
    for v in "${VARIANTS[@]}"; do shown_cmd "$v"; done
    echo '```'
    echo
    cat <<NOTE
- Pinning: nginx origin (\`return 200 "hello world\\n"\`), wrk and redis-server on CPU 0; the
  proxy under load (nginx, or one of three weir instances) on CPU 1. redis-server competes with
  wrk and the origin for CPU 0, as a Redis on the same host would.
- weir (memory store): APIs \`keyless\` (\`use_keyless: true\`), \`token\` and \`jwt\`; tyk.conf
  \`policies: {policy_source: file}\`. weir (Redis store): API \`token\`; tyk.conf
  \`storage: {type: redis}\` → redis-server $REDIS_VERSION (\`--save "" --appendonly no\`).
  The third weir (local-first) is the Redis one with tyk.conf \`local_first_limits:
  {enabled: true, batch: $LF_BATCH, lease_ms: $LF_LEASE_MS}\`. Access logs off in all.
- Keys: \`POST /tyk/keys\` on each weir with \`{"org_id":"o","rate":10000000,"per":1,
  "quota_max":$QUOTA_MAX,"quota_renewal_rate":3600,"access_rights":{"token":…}}\`: the rate
  limit never trips, the quota is counted on every request (checked below).
- JWT: RS256, a 2048-bit RSA key made by \`openssl genpkey\` at run time, \`jwt_source\` =
  base64 of its PEM public key, \`jwt_signing_method: rsa\`, \`jwt_policy_field_name: pol\`;
  claims \`{"sub","pol":"jwt-bench","iat","exp"}\`, signed with \`openssl dgst -sha256 -sign\`.
  Policy \`jwt-bench\` grants the API with no rate limit and no quota, so this row is the JWT
  path alone. All 64 connections send the same token: one signature check, then the cache.
- Checked before measuring: every variant answers 200 \`hello world\`; the token and JWT APIs
  answer 401/400 without a credential, 403 to an unknown key and to a JWT with a bad signature;
  X-RateLimit-Remaining falls by one per request on both token variants.
- Cost = 1 − req/s ÷ keyless weir's req/s (medians). CPU columns: utime+stime of the proxy
  under load (nginx: master + worker) and of redis-server, per 10k requests — the steadier
  figure on a shared machine. "Cost implied by CPU" = 1 − keyless CPU ÷ the variant's CPU per
  request: the req/s cost were weir CPU-bound on its core (it leaves out what Redis costs on
  CPU 0 and the wait for Redis).
NOTE
    echo
    echo "| variant | what | req/s | vs keyless weir | vs nginx | target: req/s cost vs keyless | p50 ms | p99 ms | proxy CPU-s / 10k req | CPU vs keyless | target: cost implied by CPU | redis CPU-s / 10k req | req/s per round |"
    echo "| --- | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- | ---: | --- |"
    for v in "${VARIANTS[@]}"; do
        rps=$(median "$v" 3)
        cpu=$(median "$v" 6)
        limit=$(target_of "$v")
        verdict=$(verdict "$v" "$limit" "$rps" "$base")
        # Were weir CPU-bound, its req/s would scale as 1 / CPU per request.
        cpu_verdict=$(verdict "$v" "$limit" "$base_cpu" "$cpu")
        r10k=-
        [[ $v == token-redis* ]] && r10k=$(fmt "$(median "$v" 9)" 4)
        echo "| $v | $(describe "$v") | $(fmt "$rps" 0) | $(ratio "$rps" "$base") | $(ratio "$rps" "$nrps") | $verdict | $(fmt "$(median "$v" 4)" 3) | $(fmt "$(median "$v" 5)" 3) | $(fmt "$cpu" 4) | $(ratio "$cpu" "$base_cpu") | $cpu_verdict | $r10k | $(rounds_of "$v" 3) |"
    done
    echo
    errors_line
    echo
    echo "Redis round trips per token-redis request, over $RT_REQUESTS sequential requests (one connection,"
    echo "curl) after the rounds: **$RT_PER_REQ** (the gateway's own commands, seen by \`MONITOR\`: $RT_TOP;"
    echo "a GET there is the 10 s refresh of the cached session). Every command \`INFO commandstats\`"
    echo "counted, those run inside the limiter's script included: $RT_ALL."
    echo
    echo "Quota counted by each gateway (from X-RateLimit-Remaining at the end) vs requests completed by"
    echo "wrk and the checks; the gateway also counts requests still in flight when a wrk run stops:"
    for l in "${QUOTA_LINES[@]}"; do echo "- $l"; done
    echo
    raw_rows
}

finish section
