#!/usr/bin/env bash
# Runs Tyk's own tyk-demo authentication artefacts against Weir: its API definitions, policies,
# keys and key-creation function, and the tests of its Postman collection, run with newman.
#
#   scripts/tyk-demo-auth.sh <tyk-demo checkout> [weir binary]
#
# Everything runs on loopback (free ports), in a temporary directory, and every process the
# script starts is stopped on exit. Nothing of the demo is copied into this repository: the
# files are read from the checkout and what is derived from them is written to the temporary
# directory. Needs jq, curl, python3 (with venv) and node/npm; httpbin + gunicorn (PyPI) and
# newman (npm) are installed once into $WEIR_DEMO_CACHE (default ~/.cache/weir-tyk-demo).
#
# What is changed, and why (nothing else is):
#   - API definitions: the Dashboard exports' inner `api_definition` object is what a gateway
#     loads; only `proxy.target_url` (classic) or `x-tyk-api-gateway.upstream.url` (OAS) is
#     replaced, by a local httpbin, because the demo's docker hosts do not exist here.
#   - Policies: the Dashboard form lists access rights in `access_rights_array`; the gateway
#     form is `access_rights` keyed by api_id. jq converts them, and names each policy by `id`,
#     else `_id` (as Tyk's gateway names policies it gets from the Dashboard), one per file.
#   - Bearer tokens: created with the demo's own `create_bearer_token` (scripts/common.sh),
#     its dashboard variable check stubbed, as the demo's bootstrap does against a gateway.
#   - The basic-auth user: the demo creates it through the Dashboard, which stamps the key with
#     the Dashboard user's org_id; the file itself has none. It is posted to the gateway's
#     `/tyk/keys/basic_auth_username` with org_id set to the demo's organisation (what the
#     Dashboard would do). WEIR_DEMO_BASIC_AS_IS=1 posts the file unmodified instead (then Tyk's
#     gateway, too, stores the user under org "" and refuses it on an API of another org).
#   - tyk.conf: the demo gateway's secret and key-hashing settings, a file policy source, and
#     loopback listen address and port.
#
# Then newman runs the collection's authentication requests (see FOLDERS below) unmodified,
# and, unless WEIR_DEMO_DERIVED=0, a second, derived run: the demo's auth-token requests,
# which target its "Basic Protected API" (refused by Weir for features other than auth),
# pointed at its "External HTTPbin" auth-token API and the demo's key for it. Last, curl
# replays the assertions some tests make inside pm.sendRequest callbacks (newman does not count
# those) and checks "JSON Placeholder", which the collection does not test.
#
# Exit status: newman's, for the unmodified run (non-zero when any assertion failed).
set -euo pipefail

demo=${1:?usage: $0 <tyk-demo checkout> [weir binary]}
demo=$(cd "$demo" && pwd)
repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${WEIR_DEMO_CACHE:-$HOME/.cache/weir-tyk-demo}

data=$demo/deployments/tyk/data
collection=$demo/deployments/tyk/tyk_demo_tyk.postman_collection.json
demo_conf=$demo/deployments/tyk/volumes/tyk-gateway/tyk.conf

# The demo's APIs this run needs: Basic Authentication, JWT, External HTTPbin and JSON
# Placeholder (classic), plus the two the collection's auth requests also call: Basic
# Protected API (auth tokens) and JWT-RSA (Tyk OAS).
classic_apis=(5963f8fdedee405143f5858ea17de422 c7c3b826a9ec4c637ae716e00cecc010
  627efb71ebae49df7a853b9769b65fce 546e885199c947147e7f39b7d6e8e984
  accbdd1b89e84ec97f4f16d4e3197d5c)
oas_apis=(92c06a4330904cae6860c39bac57262b)

# The collection's requests about authentication tokens, JWT and basic auth (folders and
# single requests, by name).
FOLDERS=("Authentication Token" "JSON Web Token" "Basic Authentication"
  "Rate Limit" "Quota Limit" "Throttling"
  "Import custom key (part 1)" "Import custom key (part 2)" "Keys")
# The derived run: the auth-token requests that target the Basic Protected API.
DERIVED_FOLDERS=("Authentication Token" "Rate Limit" "Quota Limit" "Throttling"
  "Import custom key (part 1)" "Import custom key (part 2)")

for tool in jq curl python3 npm node; do
  command -v "$tool" >/dev/null || { echo "tyk-demo-auth: $tool is required" >&2; exit 1; }
done
for f in "$collection" "$demo_conf" "$demo/scripts/common.sh"; do
  [ -f "$f" ] || { echo "tyk-demo-auth: $f not found; is $demo a tyk-demo checkout?" >&2; exit 1; }
done
org_id=$(jq -r .id "$data/tyk-dashboard/1/organisation.json")

# ---- the weir binary ------------------------------------------------------------------
if [ -n "${2:-}" ]; then
  weir=$2
else
  target=$(cd "$repo" && cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
  weir=$target/debug/weir
  [ -x "$weir" ] || (cd "$repo" && cargo build -p weir)
fi
[ -x "$weir" ] || { echo "tyk-demo-auth: $weir is not an executable" >&2; exit 1; }

# ---- tools, installed once into the cache ---------------------------------------------
mkdir -p "$cache"
if [ ! -x "$cache/venv/bin/gunicorn" ] || ! "$cache/venv/bin/python" -c 'import httpbin' 2>/dev/null; then
  echo "installing httpbin and gunicorn into $cache/venv"
  python3 -m venv "$cache/venv" || {
    echo "tyk-demo-auth: python3 -m venv failed (Debian: apt-get install python3-venv)" >&2
    exit 1
  }
  "$cache/venv/bin/pip" install -q httpbin gunicorn
fi
newman=$cache/newman/node_modules/.bin/newman
if [ ! -x "$newman" ]; then
  echo "installing newman into $cache/newman"
  npm install --prefix "$cache/newman" --no-audit --no-fund --silent newman@6 >/dev/null
fi

# ---- processes and clean-up -----------------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/tyk-demo-auth.XXXXXX")
pids=()
cleanup() {
  for pid in ${pids[@]+"${pids[@]}"}; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in ${pids[@]+"${pids[@]}"}; do
    wait "$pid" 2>/dev/null || true
  done
  if [ -n "${WEIR_DEMO_KEEP:-}" ]; then
    echo "kept $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until something answers HTTP at $1 (any status), or fails after ~20 s.
wait_http() {
  for _ in $(seq 1 100); do
    curl -s -o /dev/null "$1" && return 0
    sleep 0.2
  done
  echo "tyk-demo-auth: nothing answered at $1" >&2
  return 1
}

hb_port=$(free_port)
"$cache/venv/bin/gunicorn" -b "127.0.0.1:$hb_port" -w 2 httpbin:app >"$work/httpbin.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$hb_port/get"
upstream=http://127.0.0.1:$hb_port/
echo "httpbin (stand-in for the demo's upstreams): $upstream"

# ---- app_path, policies, tyk.conf -----------------------------------------------------
mkdir -p "$work/apps" "$work/policies"
for id in "${classic_apis[@]}"; do
  jq --arg t "$upstream" '.api_definition | .proxy.target_url = $t' \
    "$data/tyk-dashboard/1/apis/api-$id.json" >"$work/apps/$id.json"
done
for id in "${oas_apis[@]}"; do
  jq --arg t "$upstream" '.["x-tyk-api-gateway"].upstream.url = $t' \
    "$data/tyk-dashboard/1/apis/api-$id.json" >"$work/apps/$id.json"
done
for f in "$data"/tyk-dashboard/1/policies/*.json; do
  jq '(if (.id // "") != "" then .id else ._id end) as $id
      | .id = $id
      | .access_rights = ((.access_rights_array // []) | map({key: .api_id, value: .}) | from_entries)
      | del(.access_rights_array)' "$f" >"$work/policy.tmp"
  mv "$work/policy.tmp" "$work/policies/$(jq -r .id "$work/policy.tmp").json"
done

weir_port=$(free_port)
secret=$(jq -r .secret "$demo_conf")
jq -n --slurpfile demo "$demo_conf" --arg apps "$work/apps" --arg pols "$work/policies" \
  --argjson port "$weir_port" '$demo[0] as $d | {
    listen_address: "127.0.0.1", listen_port: $port, secret: $d.secret, app_path: $apps,
    hash_keys: $d.hash_keys, hash_key_function: $d.hash_key_function,
    enable_hashed_keys_listing: $d.enable_hashed_keys_listing,
    allow_master_keys: $d.allow_master_keys,
    policies: {policy_source: "file", policy_path: $pols}}' >"$work/tyk.conf"

echo
echo "== weir check (definitions Weir refuses are named here; the rest are served)"
"$weir" check --conf "$work/tyk.conf" 2>&1 | sed "s|$work/apps/||" || true

"$weir" run --conf "$work/tyk.conf" >"$work/weir.log" 2>&1 &
pids+=($!)
gateway=http://127.0.0.1:$weir_port
wait_http "$gateway/" || { cat "$work/weir.log" >&2; exit 1; }
echo "weir: $gateway ($weir)"

# ---- keys -------------------------------------------------------------------------------
echo
echo "== bearer tokens, with the demo's create_bearer_token"
mkdir -p "$work/bootstrap/logs"
for f in "$data"/tyk-gateway/keys/bearer-token/*.json; do
  (
    cd "$work/bootstrap"
    # shellcheck source=/dev/null
    source "$demo/scripts/common.sh"
    check_variables() { :; } # the demo's check is for the Dashboard, not used here
    gateway_base_url=$gateway
    create_bearer_token "$f" "$secret"
  ) || true
done
sed 's/^.*UTC [0-9]* //' "$work/bootstrap/logs/bootstrap.log"

echo
echo "== basic-auth user (POST /tyk/keys/basic_auth_username)"
basic_file=$data/tyk-dashboard/1/keys/basic/basic-1-basic_auth_username.json
if [ -n "${WEIR_DEMO_BASIC_AS_IS:-}" ]; then
  basic_body=$(cat "$basic_file")
  echo "(the file as it is, with no org_id)"
else
  basic_body=$(jq --arg org "$org_id" '.org_id = $org' "$basic_file")
  echo "(the file with org_id $org_id, as the Dashboard stamps it)"
fi
curl -s "$gateway/tyk/keys/basic_auth_username" -H "x-tyk-authorization: $secret" -d "$basic_body"
echo

# ---- newman -----------------------------------------------------------------------------
jq -n --arg host "127.0.0.1:$weir_port" --arg key "$secret" '{name: "weir", values: [
  {key: "tyk-gateway.host", value: $host, enabled: true},
  {key: "tyk-gateway.api-key", value: $key, enabled: true}]}' >"$work/env.json"

# Prints one line per request of the collection that newman ran, with its failed assertions.
# (newman's JSON report repeats an item once per pm.sendRequest its scripts make, each time with
# the last response, so only the item and its assertions are read from it; the statuses are in
# the cli output above.)
summarise() {
  jq -r '[.run.executions[] | {id: .item.id, pos: .cursor.position, name: .item.name, failed: [.assertions[]? | select(.error) | .assertion], n: ([.assertions[]?] | length)}]
    | group_by(.id) | map(.[0]) | sort_by(.pos) | .[]
    | ((.name + " " * 45)[:45]) + " "
      + (if (.failed | length) > 0 then "FAIL: " + (.failed | join("; "))
         elif .n == 0 then "no assertions" else "pass" end)' "$1"
}

run_newman() {
  local name=$1 coll=$2
  shift 2
  local args=()
  for f in "$@"; do args+=(--folder "$f"); done
  local rc=0
  # In the background and waited for, so that an interrupt stops it at once (with the rest).
  "$newman" run "$coll" -e "$work/env.json" "${args[@]}" --color off \
    --reporters cli,json --reporter-json-export "$work/$name.json" &
  pids+=($!)
  wait $! || rc=$?
  echo
  echo "== $name: per request"
  summarise "$work/$name.json"
  return $rc
}

echo
echo "== newman: the collection's auth requests, unmodified"
rc=0
run_newman newman-demo "$collection" "${FOLDERS[@]}" || rc=$?

if [ "${WEIR_DEMO_DERIVED:-1}" != 0 ]; then
  echo
  echo "== newman, derived: the auth-token requests pointed at External HTTPbin"
  # Path, API id and key swapped for the External HTTPbin ones; every test is kept as written.
  jq 'walk(if type == "string" then
        gsub("/basic-protected-api/"; "/external-httpbin/")
        | gsub("accbdd1b89e84ec97f4f16d4e3197d5c"; "627efb71ebae49df7a853b9769b65fce")
        | gsub("\\bauth_key\\b"; "external_httpbin_key")
      elif type == "array" then map(if . == "basic-protected-api" then "external-httpbin" else . end)
      else . end)' "$collection" >"$work/derived.postman_collection.json"
  run_newman newman-derived "$work/derived.postman_collection.json" "${DERIVED_FOLDERS[@]}" || true
fi

# ---- checks newman does not count, and JSON Placeholder ----------------------------------
# The collection's Rate Limit, Quota Limit and Update a Key tests assert inside pm.sendRequest
# callbacks, after their pm.test has returned; newman counts none of those assertions (they
# pass whatever the gateway answers). These replay them with curl, with the key bodies the
# tests post, on External HTTPbin (the demo's Basic Protected API is refused by Weir).
fails=0
check() {
  local want=$1 got=$2 what=$3
  if [ "$got" = "$want" ]; then
    printf 'ok    %s: %s\n' "$what" "$got"
  else
    printf 'FAIL  %s: want %s, got %s\n' "$what" "$want" "$got"
    fails=$((fails + 1))
  fi
}
status() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
# Status and X-RateLimit-Remaining of one request, as "<status> remaining=<n>".
status_remaining() {
  curl -s -o /dev/null -D - "$@" | tr -d '\r' | awk '
    NR == 1 { code = $2 }
    tolower($1) == "x-ratelimit-remaining:" { rem = $2 }
    END { printf "%s remaining=%s", code, rem }'
}
# The key body a collection test posts (its `raw: JSON.stringify(...)` line), with its
# access rights moved from the Basic Protected API to External HTTPbin.
test_key_body() {
  jq -r --arg n "$1" 'first(.. | objects | select(.name? == $n and has("event")))
      | .event[] | select(.listen == "test") | .script.exec[]
      | select(test("raw: JSON.stringify[(]"))' "$collection" \
    | sed 's/^ *raw: JSON.stringify(//; s/) *$//' \
    | jq --arg api 627efb71ebae49df7a853b9769b65fce \
        '.access_rights |= with_entries(.key = $api | .value.api_id = $api)'
}
admin=(-H "x-tyk-authorization: $secret")
api=$gateway/external-httpbin/get

echo
echo "== the collection's uncounted assertions, replayed with curl"
key=rate-limit-replay-key
curl -s -o /dev/null "${admin[@]}" "$gateway/tyk/keys/$key" -d "$(test_key_body "Rate Limit")"
check 200 "$(status "$api" -H "Authorization: $key")" "Rate Limit: request 1"
check 200 "$(status "$api" -H "Authorization: $key")" "Rate Limit: request 2"
check 429 "$(status "$api" -H "Authorization: $key")" "Rate Limit: request 3"
key=quota-replay-key
curl -s -o /dev/null "${admin[@]}" "$gateway/tyk/keys/$key" -d "$(test_key_body "Quota Limit")"
check "200 remaining=1" "$(status_remaining "$api" -H "Authorization: $key")" "Quota Limit: request 1"
check "200 remaining=0" "$(status_remaining "$api" -H "Authorization: $key")" "Quota Limit: request 2"
check 403 "$(status "$api" -H "Authorization: $key")" "Quota Limit: request 3"
body_of() { jq -r --arg n "$1" 'first(.. | objects | select(.name? == $n and has("request"))) | .request.body.raw' "$collection"; }
key=$(curl -s "${admin[@]}" "$gateway/tyk/keys" -d "$(body_of "Create a Key")" | jq -r .key)
curl -s -o /dev/null "${admin[@]}" -X PUT "$gateway/tyk/keys/$key" -d "$(body_of "Update a Key")"
check 999 "$(curl -s "${admin[@]}" "$gateway/tyk/keys/$key" | jq -r .rate)" "Update a Key: rate after the PUT"

echo
echo "== JSON Placeholder (not in the collection)"
jp_key=$(curl -s "${admin[@]}" "$gateway/tyk/keys" \
  -d "{\"org_id\": \"$org_id\", \"apply_policies\": [\"62a0ec9092faf50001395817\"]}" | jq -r .key)
jp=$gateway/jsonplaceholder/anything/posts
check 200 "$(status "$jp" -H "Authorization: $jp_key")" "a key with the demo's JsonPlaceholder policy"
check 401 "$(status "$jp")" "no key"
check 403 "$(status "$jp" -H "Authorization: external_httpbin_key")" "external_httpbin_key (no rights here)"
echo "$fails of the curl checks failed"

exit $rc
