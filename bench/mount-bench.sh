#!/usr/bin/env bash
# mount-bench.sh - gguffs mount benchmark (not a test): prints medians and
# the ratios the mount issue asks for.
#
#   bash bench/mount-bench.sh            # as root (raises FUSE readahead)
#
# Measures, runs interleaved (A B C, B C A, ...) with medians:
#   1. mount-to-ready: `gguffs -f` started -> model.gguf visible, for a tree
#      of 10,002 tensors in 20 shards;
#   2. sequential read (cat > /dev/null, warm sources, fresh mount each run)
#      of model.gguf through gguffs, of the source shards with plain cat, and
#      of the largest shard through bench/ptfs.c (trivial passthrough: the
#      FUSE ceiling), for a BF16 Llama (byte copies) and an F32 Llama
#      (every matrix converted to F16);
#   3. peak daemon RSS (anonymous, and total incl. mapped source pages)
#      against the cache budget, during the F32 read;
#   4. llama.cpp (node-llama-cpp, mmap) model load time through the mount vs
#      from the converted file (skipped if node-llama-cpp is missing or
#      BENCH_LLAMA=0).
#
# Env: BUILD (default <repo>/build), BENCH_DIR (default /tmp/gguffs-bench:
# generated models, reused across runs), BENCH_BYTES (model size, default
# 2000000000), REPS (default 5), CACHE_SIZE (gguffs cache_size, default
# 64M, gguffs' default), PRETOUCH_GB (default 6: touch and free that much memory before
# every measured run, so that filling new page cache does not pay the VM's
# balloon faults at random - see perf-anchors.md §0; 0 disables).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD
BUILD=${BUILD:-$REPO/build}
BENCH_DIR=${BENCH_DIR:-/tmp/gguffs-bench}
BENCH_BYTES=${BENCH_BYTES:-2000000000}
REPS=${REPS:-5}
CACHE_SIZE=${CACHE_SIZE:-64M}
PRETOUCH_GB=${PRETOUCH_GB:-6}
BENCH_LLAMA=${BENCH_LLAMA:-1}
GGUFFS=$BUILD/gguffs
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gguffs-bench-run.XXXXXX")
MNT=$WORK/mnt
mkdir -p "$MNT" "$BENCH_DIR"
DAEMON=

cleanup() {
  if mountpoint -q "$MNT" 2>/dev/null; then fusermount3 -u "$MNT" || fusermount3 -uz "$MNT"; fi
  [ -n "$DAEMON" ] && kill "$DAEMON" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

exec {SLEEPFD}<> <(:)
nap() { read -r -t "$1" -u "$SLEEPFD" || true; }   # sleep without a fork
now_ns() { date +%s%N; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b>0) printf "%.2f", a/b; else print "nan"}'; }
bytes_of() { stat -c %s "$@" | awk '{s+=$1} END {print s}'; }
shards_of() { ls "$1"/*.safetensors; }

[ -x "$GGUFFS" ] || { echo "mount-bench: $GGUFFS missing (ninja -C $BUILD)"; exit 1; }
cc -O2 -Wall bench/ptfs.c $(pkg-config --cflags --libs fuse3) -o "$WORK/ptfs"
cat >"$WORK/pretouch.c" <<'EOF'
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
	size_t n = (size_t)(atof(argc > 1 ? argv[1] : "0") * 1073741824.0);
	char *p = n ? malloc(n) : NULL;
	if (p) memset(p, 1, n);
	return p && p[n / 2] != 1;
}
EOF
cc -O2 "$WORK/pretouch.c" -o "$WORK/pretouch"
pretouch() { [ "$PRETOUCH_GB" = 0 ] || "$WORK/pretouch" "$PRETOUCH_GB"; }

echo "== models in $BENCH_DIR"
node bench/make-many.mjs "$BENCH_DIR/many" --layers 1111 --shards 20 --dtype BF16
node tests/fixtures/make-fixtures.mjs "$BENCH_DIR" --big "$BENCH_BYTES" --quiet
BF16=$BENCH_DIR/llama-big
node bench/make-many.mjs "$BENCH_DIR/llama-big-f32" --dtype F32 --bytes "$BENCH_BYTES" --shards 4
F32=$BENCH_DIR/llama-big-f32

# Start a daemon on $MNT; wait until $MNT/model.gguf is visible. Sets
# DAEMON and READY_MS.
start() { # start CMD...
  local t0; t0=$(now_ns)
  "$@" >"$WORK/daemon.log" 2>&1 &
  DAEMON=$!
  while [ ! -e "$MNT/model.gguf" ]; do
    kill -0 "$DAEMON" 2>/dev/null || { cat "$WORK/daemon.log"; echo "mount-bench: daemon died"; exit 1; }
    nap 0.001
  done
  READY_MS=$(awk -v a="$t0" -v b="$(now_ns)" 'BEGIN {printf "%.1f", (b-a)/1e6}')
}
stop() {
  fusermount3 -u "$MNT"
  wait "$DAEMON" 2>/dev/null || true
  DAEMON=
}
# Seconds to cat the files to /dev/null.
time_cat() {
  local t0; t0=$(now_ns)
  cat "$@" >/dev/null
  awk -v a="$t0" -v b="$(now_ns)" 'BEGIN {printf "%.4f", (b-a)/1e9}'
}
# Poll the daemon's RSS until it exits or the stop file appears: prints
# "maxRssAnonKiB maxVmRSSKiB".
sample_rss() { # pid stopfile
  local anon=0 rss=0 a r
  while [ ! -e "$2" ] && [ -e "/proc/$1/status" ]; do
    a=$(awk '/^RssAnon:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0)
    r=$(awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0)
    [ "${a:-0}" -gt "$anon" ] && anon=$a
    [ "${r:-0}" -gt "$rss" ] && rss=$r
    nap 0.02
  done
  echo "$anon $rss"
}

echo "== warming the sources"
for d in "$BENCH_DIR/many" "$BF16" "$F32"; do cat $(shards_of "$d") >/dev/null; done

# ---- 1. mount-to-ready ----
echo "== 1. mount-to-ready: $(ls "$BENCH_DIR/many"/*.safetensors | wc -l) shards"
: >"$WORK/ready"
for i in $(seq "$REPS"); do
  start "$GGUFFS" -f "$BENCH_DIR/many" "$MNT"
  echo "$READY_MS" >>"$WORK/ready"
  [ "$i" = 1 ] && NT=$(ls "$MNT/tensors" | wc -l)
  stop
done
READY=$(median <"$WORK/ready")
echo "   tensors: $NT; ready: median $READY ms (runs: $(tr '\n' ' ' <"$WORK/ready"))"

# ---- 2. sequential read ----
# One run of variant V for model dir D; appends GB/s to $WORK/<name>.<V>.
run_variant() { # name dir variant
  local name=$1 dir=$2 v=$3 secs bytes big
  case $v in
    cat)
      bytes=$(bytes_of $(shards_of "$dir"))
      secs=$(time_cat $(shards_of "$dir")) ;;
    ptfs)
      big=$(ls -S $(shards_of "$dir") | head -n 1)
      bytes=$(stat -c %s "$big")
      start "$WORK/ptfs" -f "$big" "$MNT"
      secs=$(time_cat "$MNT/model.gguf")
      stop ;;
    gguffs)
      start "$GGUFFS" -f -o "cache_size=$CACHE_SIZE" "$dir" "$MNT"
      bytes=$(stat -c %s "$MNT/model.gguf")
      rm -f "$WORK/stopfile"
      awk '/^RssAnon:/ {print $2}' "/proc/$DAEMON/status" >>"$WORK/$name.base"
      sample_rss "$DAEMON" "$WORK/stopfile" >"$WORK/rss.now" &
      local sampler=$!
      secs=$(time_cat "$MNT/model.gguf")
      touch "$WORK/stopfile"; wait "$sampler"
      read -r anon rss <"$WORK/rss.now"
      hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$DAEMON/status")
      echo "$anon" >>"$WORK/$name.anon"; echo "$hwm" >>"$WORK/$name.hwm"
      stop ;;
  esac
  awk -v b="$bytes" -v s="$secs" 'BEGIN {printf "%.3f\n", b/s/1e9}' >>"$WORK/$name.$v"
}

seq_read() { # name dir
  local name=$1 dir=$2 order
  rm -f "$WORK/$name".*
  for i in $(seq "$REPS"); do
    case $((i % 3)) in
      1) order="cat ptfs gguffs" ;; 2) order="ptfs gguffs cat" ;; 0) order="gguffs cat ptfs" ;;
    esac
    for v in $order; do pretouch; run_variant "$name" "$dir" "$v"; done
  done
  local c p g
  c=$(median <"$WORK/$name.cat"); p=$(median <"$WORK/$name.ptfs"); g=$(median <"$WORK/$name.gguffs")
  echo "   $name: GB/s median  cat $c | ptfs $p | gguffs $g"
  echo "   $name: gguffs/ptfs = $(ratio "$g" "$p")   gguffs/cat = $(ratio "$g" "$c")   ptfs/cat = $(ratio "$p" "$c")"
  echo "   $name: runs gguffs: $(tr '\n' ' ' <"$WORK/$name.gguffs")| ptfs: $(tr '\n' ' ' <"$WORK/$name.ptfs")"
  eval "RATIO_$name=$(ratio "$g" "$p")"
}

echo "== 2. sequential read (cat > /dev/null), $REPS interleaved runs each, pretouch ${PRETOUCH_GB} GiB"
echo "   model.gguf sizes: BF16 source $(bytes_of $(shards_of "$BF16")) B, F32 source $(bytes_of $(shards_of "$F32")) B"
seq_read bf16 "$BF16"
seq_read f32 "$F32"

# ---- 3. RSS ----
budget_mb=$(numfmt --from=iec "$CACHE_SIZE" | awk '{printf "%.0f", $1/1048576}')
anon_mb=$(median <"$WORK/f32.anon" | awk '{printf "%.0f", $1/1024}')
hwm_mb=$(median <"$WORK/f32.hwm" | awk '{printf "%.0f", $1/1024}')
banon_mb=$(median <"$WORK/bf16.anon" | awk '{printf "%.0f", $1/1024}')
base_mb=$(median <"$WORK/f32.base" | awk '{printf "%.0f", $1/1024}')
echo "== 3. daemon memory (cache budget ${budget_mb} MiB)"
echo "   F32 read: peak anonymous RSS ${anon_mb} MiB (budget + 64 = $((budget_mb + 64)) MiB): $( [ "$anon_mb" -le $((budget_mb + 64)) ] && echo within || echo ABOVE)"
echo "   F32 read: anonymous RSS right after mount (model metadata: tokenizer, plans) ${base_mb} MiB; growth during the read $((anon_mb - base_mb)) MiB"
echo "   F32 read: peak total RSS (VmHWM, incl. mapped source pages = page cache) ${hwm_mb} MiB"
echo "   BF16 read: peak anonymous RSS ${banon_mb} MiB"

# ---- 4. llama.cpp load ----
if [ "$BENCH_LLAMA" = 1 ] && [ -d node_modules/node-llama-cpp ]; then
  echo "== 4. llama.cpp (node-llama-cpp, mmap) load of the BF16 model"
  CONV=$BENCH_DIR/llama-big.gguf
  [ -f "$CONV" ] && [ "$CONV" -nt "$BF16/.complete" ] || "$BUILD/gguffs-convert" "$BF16" "$CONV" >/dev/null
  cat "$CONV" >/dev/null
  cat >"$WORK/load.mjs" <<EOF
const { getLlama, LlamaLogLevel } = await import('file://$REPO/node_modules/node-llama-cpp/dist/index.js');
const llama = await getLlama({ gpu: false, build: 'never', usePrebuiltBinaries: true, skipDownload: true, logLevel: LlamaLogLevel.error });
const t0 = performance.now();
const model = await llama.loadModel({ modelPath: process.argv[2] });
console.log(((performance.now() - t0) / 1000).toFixed(3));
await model.dispose(); await llama.dispose();
EOF
  load() { node "$WORK/load.mjs" "$1"; }
  rm -f "$WORK/load.file" "$WORK/load.mount"
  for i in $(seq "$REPS"); do
    pretouch; load "$CONV" >>"$WORK/load.file"
    start "$GGUFFS" -f -o "cache_size=$CACHE_SIZE" "$BF16" "$MNT"
    pretouch; load "$MNT/model.gguf" >>"$WORK/load.mount"
    stop
  done
  lf=$(median <"$WORK/load.file"); lm=$(median <"$WORK/load.mount")
  echo "   load s median: converted file $lf | mount $lm   mount/file = $(ratio "$lm" "$lf")"
fi

echo "== summary"
echo "   mount-to-ready (10,002 tensors, 20 shards): $READY ms (target < 100 ms)"
echo "   BF16 through gguffs / passthrough: $RATIO_bf16 (target >= 0.90)"
echo "   F32->F16 through gguffs / passthrough: $RATIO_f32 (target >= 0.60)"
echo "   peak anonymous RSS (F32): ${anon_mb} MiB vs budget ${budget_mb} MiB + 64"
[ -n "${lm:-}" ] && echo "   llama.cpp load mount/file: $(ratio "$lm" "$lf") (target <= 1.5)"
