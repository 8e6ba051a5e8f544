#!/usr/bin/env bash
# Conversion throughput benchmark.
#   bash bench/convert-bench.sh [BYTES]     (default 2200000000)
# Makes bench/out/llama-big (BF16, sharded, ~BYTES) if missing, times a warm
# `cat` of the shards, then gguffs-convert of the same model, and prints a
# table: source bytes, convert seconds, GB/s, convert/cat ratio, peak RSS and
# peak RssAnon (MB). A copy baseline (cat > file on the same disk) is shown too. GGUFFS_BUILD overrides the build dir (default build/).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
BYTES=${1:-2200000000}
BUILD=${GGUFFS_BUILD:-$ROOT/build}
CONVERT=$BUILD/gguffs-convert
OUT=$ROOT/bench/out
MODEL=$OUT/llama-big
DEST=${GGUFFS_BENCH_DEST:-$OUT/llama-big.gguf}
[ -x "$CONVERT" ] || { echo "convert-bench: $CONVERT missing (ninja -C $BUILD)" >&2; exit 1; }

if [ ! -f "$MODEL/.complete" ]; then
  echo "convert-bench: generating $MODEL (~$BYTES bytes)"
  node tests/fixtures/make-fixtures.mjs "$OUT" --big "$BYTES"
fi
shopt -s nullglob
SHARDS=("$MODEL"/*.safetensors)
SRC_BYTES=$(stat -c %s "${SHARDS[@]}" | awk '{s+=$1} END {print s}')

now() { date +%s.%N; }
cat "${SHARDS[@]}" >/dev/null       # warm-up read
t0=$(now); cat "${SHARDS[@]}" >/dev/null; t1=$(now)
CAT_S=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.6f", b - a}')

# Copy baseline: the same bytes read and written to the destination's disk.
t0=$(now); cat "${SHARDS[@]}" >"$DEST.copy"; sync "$DEST.copy" 2>/dev/null || true; t1=$(now)
COPY_S=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.6f", b - a}')
rm -f "$DEST" "$DEST.copy"
STATUS=$(mktemp); TIMEV=$(mktemp)
trap 'rm -f "$STATUS" "$TIMEV"' EXIT
t0=$(now)
if [ -x /usr/bin/time ]; then
  /usr/bin/time -v -o "$TIMEV" "$CONVERT" -o profile=llamacpp "$MODEL" "$DEST" &
else
  "$CONVERT" -o profile=llamacpp "$MODEL" "$DEST" &
fi
PID=$!
# Poll RssAnon/VmHWM of the converter (the child of /usr/bin/time when present).
CPID=""
PEAK_ANON=0; PEAK_HWM=0
while kill -0 "$PID" 2>/dev/null; do
  if [ -z "$CPID" ]; then
    CPID=$(cat "/proc/$PID/task/$PID/children" 2>/dev/null | awk '{print $1}' || true)
    [ -x /usr/bin/time ] || CPID=$PID
  fi
  if [ -n "$CPID" ] && [ -r "/proc/$CPID/status" ]; then
    read -r a h < <(awk '/^RssAnon:/ {a=$2} /^VmHWM:/ {h=$2} END {print a+0, h+0}' "/proc/$CPID/status" 2>/dev/null || echo "0 0")
    [ "${a:-0}" -gt "$PEAK_ANON" ] && PEAK_ANON=$a
    [ "${h:-0}" -gt "$PEAK_HWM" ] && PEAK_HWM=$h
  fi
  sleep 0.05
done
set +e; wait "$PID"; RC=$?; set -e
t1=$(now)
[ "$RC" -eq 0 ] || { echo "convert-bench: gguffs-convert failed ($RC)" >&2; cat "$TIMEV" >&2; exit 1; }
CONV_S=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.6f", b - a}')
if [ -s "$TIMEV" ]; then
  MAXRSS=$(awk -F: '/Maximum resident set size/ {gsub(/ /,"",$2); print $2}' "$TIMEV")
  [ -n "$MAXRSS" ] && [ "$MAXRSS" -gt "$PEAK_HWM" ] && PEAK_HWM=$MAXRSS
fi
OUT_BYTES=$(stat -c %s "$DEST")
[ "${GGUFFS_BENCH_KEEP:-0}" = 1 ] || rm -f "$DEST"

awk -v cp="$COPY_S" -v sb="$SRC_BYTES" -v ob="$OUT_BYTES" -v cs="$CONV_S" -v ct="$CAT_S" -v rss="$PEAK_HWM" -v anon="$PEAK_ANON" 'BEGIN {
  printf "%-24s %14s\n", "metric", "value"
  printf "%-24s %14.0f\n", "source bytes", sb
  printf "%-24s %14.0f\n", "output bytes", ob
  printf "%-24s %14.3f\n", "cat seconds (warm)", ct
  printf "%-24s %14.3f\n", "copy seconds (cat >file)", cp
  printf "%-24s %14.3f\n", "convert seconds", cs
  printf "%-24s %14.3f\n", "cat GB/s", sb / ct / 1e9
  printf "%-24s %14.3f\n", "convert GB/s", sb / cs / 1e9
  printf "%-24s %14.2f\n", "convert/cat ratio", cs / ct
  printf "%-24s %14.2f\n", "convert/copy ratio", cs / cp
  printf "%-24s %14.1f\n", "peak RSS MB", rss / 1024
  printf "%-24s %14.1f\n", "peak RssAnon MB", anon / 1024
}'
