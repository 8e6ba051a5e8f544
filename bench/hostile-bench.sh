#!/usr/bin/env bash
# hostile-bench.sh - what small hostile inputs cost (not a test): the time
# targets of issue 9 that tests may not assert, measured in one run.
#
#   bash bench/hostile-bench.sh
#
# Prints, each a median of REPS runs:
#   1. time for gguffs-convert and gguffs to refuse a FIFO named config.json
#      (target: under 1 s; a blocking open would never return);
#   2. time and peak RSS to refuse vocab_size 16,777,216 over a 512-token
#      tokenizer (target: refused or served in under 200 MB);
#   3. gguffs-convert --check time with 500,000 and 1,000,000 added tokens
#      and their ratio (target: 1M in under 2 s; linear work gives ~2.0);
#   4. mount-to-ready time and peak daemon RSS for 300,000 tensors, before
#      and after `ls -l` of the mount (target: under 400 MB).
# Inputs are tests/fixtures/make-hostile.mjs's, made under BENCH_DIR.
#
# Env: BUILD (default <repo>/build), BENCH_DIR (default
# /tmp/gguffs-bench-hostile), REPS (default 3). The tokenizer cache is off.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUILD=${BUILD:-$PWD/build}
DIR=${BENCH_DIR:-/tmp/gguffs-bench-hostile}
REPS=${REPS:-3}
export GGUFFS_CACHE_DIR=off
mkdir -p "$DIR"
node tests/fixtures/make-hostile.mjs "$DIR" --quiet
WORK=$(mktemp -d /tmp/gguffs-hostile-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# peak RSS (KiB) and seconds of a command, as "KB SECONDS"
measure() {
  local t0 t1 kb
  t0=$(now)
  kb=$( { /usr/bin/env bash -c 'exec "$@" 2>/dev/null >/dev/null & p=$!; hwm=0
          while kill -0 $p 2>/dev/null; do h=$(awk "/VmHWM/{print \$2}" /proc/$p/status 2>/dev/null || true)
            [ -n "$h" ] && [ "$h" -gt "$hwm" ] && hwm=$h; sleep 0.01; done; wait $p || true; echo $hwm' _ "$@"; } )
  t1=$(now)
  echo "$kb $(echo "$t1 - $t0" | bc)"
}

# 1. FIFO
FX=$WORK/fifo
mkdir -p "$FX"
cp -p tests/fixtures/out/llama-bf16/* "$FX"/ 2>/dev/null || cp -p "$DIR"/hostile-vocab16m/* "$FX"/
rm -f "$FX/config.json"; mkfifo "$FX/config.json"
fifo_convert=(); fifo_mount=()
for _ in $(seq "$REPS"); do
  t0=$(now); "$BUILD/gguffs-convert" --check "$FX" >/dev/null 2>&1 || true; t1=$(now)
  fifo_convert+=("$(echo "$t1 - $t0" | bc)")
  M=$(mktemp -d "$WORK/mnt.XXXX")
  t0=$(now); timeout 20 "$BUILD/gguffs" -f "$FX" "$M" >/dev/null 2>&1 || true; t1=$(now)
  fifo_mount+=("$(echo "$t1 - $t0" | bc)")
  rmdir "$M" 2>/dev/null || true
done
printf 'FIFO config.json refused: gguffs-convert %.3f s, gguffs %.3f s (target < 1 s)\n' \
  "$(printf '%s\n' "${fifo_convert[@]}" | median)" "$(printf '%s\n' "${fifo_mount[@]}" | median)"

# 2. vocab 16.7M
v_kb=(); v_s=()
for _ in $(seq "$REPS"); do
  read -r kb s < <(measure "$BUILD/gguffs-convert" --check "$DIR/hostile-vocab16m")
  v_kb+=("$kb"); v_s+=("$s")
done
printf 'vocab_size 16.7M over 512 tokens: refused in %.3f s, peak RSS %d MiB (target < 200 MiB)\n' \
  "$(printf '%s\n' "${v_s[@]}" | median)" "$(( $(printf '%s\n' "${v_kb[@]}" | median) / 1024 ))"

# 3. added tokens
a5=(); a10=(); k10=()
for _ in $(seq "$REPS"); do
  read -r _ s < <(measure "$BUILD/gguffs-convert" --check "$DIR/hostile-added500k"); a5+=("$s")
  read -r kb s < <(measure "$BUILD/gguffs-convert" --check "$DIR/hostile-added1m"); a10+=("$s"); k10+=("$kb")
done
m5=$(printf '%s\n' "${a5[@]}" | median); m10=$(printf '%s\n' "${a10[@]}" | median)
printf 'added tokens: 500k %.2f s, 1M %.2f s (target < 2 s), ratio 1M/500k %.2f (linear: 2.0), 1M peak RSS %d MiB\n' \
  "$m5" "$m10" "$(echo "$m10 / $m5" | bc -l)" "$(( $(printf '%s\n' "${k10[@]}" | median) / 1024 ))"

# 4. 300,000 tensors mounted
r_s=(); r_kb=(); l_kb=()
for _ in $(seq "$REPS"); do
  M=$(mktemp -d "$WORK/mnt.XXXX")
  t0=$(now)
  "$BUILD/gguffs" -f "$DIR/hostile-tensors300k" "$M" 2>/dev/null & P=$!
  while [ ! -e "$M/model.gguf" ] && kill -0 $P 2>/dev/null; do sleep 0.01; done
  t1=$(now)
  r_s+=("$(echo "$t1 - $t0" | bc)"); r_kb+=("$(awk '/VmHWM/{print $2}' /proc/$P/status)")
  ls -l "$M" >/dev/null
  l_kb+=("$(awk '/VmHWM/{print $2}' /proc/$P/status)")
  fusermount3 -u "$M"; wait $P || true; rmdir "$M"
done
printf '300,000 tensors: mount-ready %.2f s, daemon peak RSS %d MiB mounted, %d MiB after ls -l (target < 400 MiB)\n' \
  "$(printf '%s\n' "${r_s[@]}" | median)" "$(( $(printf '%s\n' "${r_kb[@]}" | median) / 1024 ))" \
  "$(( $(printf '%s\n' "${l_kb[@]}" | median) / 1024 ))"
