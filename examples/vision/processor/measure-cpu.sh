#!/usr/bin/env bash
# Measures the processor's CPU per camera in release: CAMS cameras at FPS, every camera watched
# by one client (examples/watch.rs), sampled from /proc/<pid>/stat over SECS seconds.
# Usage: ./measure-cpu.sh   (env defaults: CAMS=8 FPS=30 SECS=10 WIDTH=320 HEIGHT=240 SUBS=1,
# SUBS = client streams per camera)
set -euo pipefail
cd "$(dirname "$0")"
TARGET=${CARGO_TARGET_DIR:-../../../target/vision-processor}
CAMS=${CAMS:-8} FPS=${FPS:-30} SECS=${SECS:-10} WIDTH=${WIDTH:-320} HEIGHT=${HEIGHT:-240} SUBS=${SUBS:-1}
cargo build --quiet --release --target-dir "$TARGET" --bin vision-processor --example watch
BIN=$TARGET/release/vision-processor
WATCH=$TARGET/release/examples/watch

out=$(mktemp)
"$BIN" --listen 127.0.0.1:0 --cameras "$CAMS" --fps "$FPS" --width "$WIDTH" --height "$HEIGHT" \
    >"$out" 2>"$out.log" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -f "$out" "$out.log"' EXIT
for _ in $(seq 100); do grep -q '^LISTENING ' "$out" && break; sleep 0.1; done
addr=$(sed -n 's/^LISTENING //p' "$out")
[ -n "$addr" ] || { echo "processor did not start"; cat "$out.log"; exit 1; }

hz=$(getconf CLK_TCK)
# utime + stime of the whole process (all threads); fields counted after the ") " of comm.
ticks() { sed 's/.*) //' "/proc/$pid/stat" | awk '{print $12 + $13}'; }
pct() { awk -v d="$1" -v hz="$hz" -v s="$2" 'BEGIN { printf "%.2f", d / hz / s * 100 }'; }

t0=$(ticks); sleep 3; t1=$(ticks)
echo "idle (no subscribers): $(pct $((t1 - t0)) 3) % of one core"

"$WATCH" --addr "http://$addr" --cameras "$CAMS" --subscribers "$SUBS" --seconds $((SECS + 4)) >"$out.watch" &
wpid=$!
sleep 2 # first activation fast-forwards 10 s of footage to learn the background
t0=$(ticks); sleep "$SECS"; t1=$(ticks)
wait $wpid
total=$(pct $((t1 - t0)) "$SECS")
echo "$CAMS cameras x $FPS fps, ${WIDTH}x${HEIGHT}, $SUBS stream(s) each: $total % of one core in total,"\
     "$(awk -v t="$total" -v n="$CAMS" 'BEGIN { printf "%.2f", t / n }') % per camera"
sort -u -t: -k1,1 "$out.watch"
rm -f "$out.watch"
echo "frame-clock overruns logged: $(grep -c 'behind its frame clock' "$out.log" || true)"
echo "slowest background pre-roll: $(sed -n 's/.*background learned.* ms=\([0-9]*\).*/\1/p' \
    "$out.log" | sort -n | tail -n 1) ms"
