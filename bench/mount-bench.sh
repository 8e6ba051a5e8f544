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
#   4. page-cache growth (Cached in /proc/meminfo) per byte of model.gguf
#      read from cold sources: through the mount (default, and with
#      -o keep_source_cache) and reading the converted file;
#   5. llama.cpp (node-llama-cpp, mmap) load time of the BF16 model: the
#      converted file, the converted file through ptfs (the FUSE ceiling
#      for that access pattern), a fresh gguffs mount, and a second (warm)
#      load through the same mount; then, in a memory cgroup capped at
#      1.5x the model, the converted file and fresh mounts with and without
#      keep_source_cache, all from cold files (skipped if node-llama-cpp
#      is missing or BENCH_LLAMA=0);
#   6. high-latency sources: gguffs over bench/ptfs.c serving the source
#      directory with no delay and with DELAY_MS per read: mount-to-ready
#      of the 48-shard GLM-shaped tree and sequential read of the BF16
#      model.
#
# Env: BUILD (default <repo>/build), BENCH_DIR (default /tmp/gguffs-bench:
# generated models, reused across runs), BENCH_BYTES (model size, default
# 2000000000), REPS (default 5), CACHE_SIZE (gguffs cache_size, default
# 64M, gguffs' default), PRETOUCH_GB (default 6: touch and free that much
# memory before every measured run, so that filling new page cache does not
# pay the VM's balloon faults at random - see perf-anchors.md section 0; 0
# disables), DELAY_MS (default 2), BENCH_LOWMEM (default 1: the cgroup
# runs of 5).
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
BENCH_LOWMEM=${BENCH_LOWMEM:-1}
DELAY_MS=${DELAY_MS:-2}
GGUFFS=$BUILD/gguffs
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gguffs-bench-run.XXXXXX")
MNT=$WORK/mnt
SRC=$WORK/src   # ptfs view of a source directory (section 6)
mkdir -p "$MNT" "$SRC" "$BENCH_DIR"
DAEMON=
PTFS=
CGROUP=

cleanup() {
  if mountpoint -q "$MNT" 2>/dev/null; then fusermount3 -u "$MNT" || fusermount3 -uz "$MNT"; fi
  [ -n "$DAEMON" ] && kill "$DAEMON" 2>/dev/null || true
  if mountpoint -q "$SRC" 2>/dev/null; then fusermount3 -u "$SRC" || fusermount3 -uz "$SRC"; fi
  [ -n "$PTFS" ] && kill "$PTFS" 2>/dev/null || true
  [ -n "$CGROUP" ] && rmdir "$CGROUP" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

. bench/lib.sh
bytes_of() { stat -c %s "$@" | awk '{s+=$1} END {print s}'; }
shards_of() { ls "$1"/*.safetensors; }

[ -x "$GGUFFS" ] || { echo "mount-bench: $GGUFFS missing (ninja -C $BUILD)"; exit 1; }
bench_tools
# uncache FILE...: drop these files' pages from the page cache (cold files
# without dropping every cache of the machine).
cat >"$WORK/uncache.c" <<'EOF'
#include <fcntl.h>
#include <unistd.h>
int main(int argc, char **argv) {
	for (int i = 1; i < argc; i++) {
		int fd = open(argv[i], O_RDONLY);
		if (fd < 0) return 1;
		fdatasync(fd);
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		close(fd);
	}
	return 0;
}
EOF
cc -O2 "$WORK/uncache.c" -o "$WORK/uncache"
uncache() { "$WORK/uncache" "$@"; }
cached_kib() { awk '/^Cached:/ {print $2}' /proc/meminfo; }

echo "== models in $BENCH_DIR"
node bench/make-many.mjs "$BENCH_DIR/many" --layers 1111 --shards 20 --dtype BF16
node tests/fixtures/make-fixtures.mjs "$BENCH_DIR" --big "$BENCH_BYTES" --quiet
BF16=$BENCH_DIR/llama-big
node bench/make-many.mjs "$BENCH_DIR/llama-big-f32" --dtype F32 --bytes "$BENCH_BYTES" --shards 4
F32=$BENCH_DIR/llama-big-f32
node tests/fixtures/make-glm.mjs "$BENCH_DIR" --bench >/dev/null
GLM=$BENCH_DIR/glm-bench
CONV=$BENCH_DIR/llama-big.gguf
[ -f "$CONV" ] && [ "$CONV" -nt "$BF16/.complete" ] || "$BUILD/gguffs-convert" "$BF16" "$CONV" >/dev/null

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
# ptfs over directory $1 on $SRC with delay $2 ms; waits until it answers.
src_start() {
  "$WORK/ptfs" --delay-ms="$2" -f "$1" "$SRC" 2>/dev/null &
  PTFS=$!
  while [ ! -e "$SRC/config.json" ]; do
    kill -0 "$PTFS" 2>/dev/null || { echo "mount-bench: ptfs died"; exit 1; }
    nap 0.001
  done
}
src_stop() {
  fusermount3 -u "$SRC"
  wait "$PTFS" 2>/dev/null || true
  PTFS=
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
start "$GGUFFS" -f "$BENCH_DIR/many" "$MNT"; stop  # tokenizer metadata cached
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
    # Warm sources before every run: a gguffs run drops the pages it read.
    for v in $order; do cat $(shards_of "$dir") >/dev/null; pretouch; run_variant "$name" "$dir" "$v"; done
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

# ---- 4. page cache ----
# Cached growth per byte of model.gguf read, from cold files: the mount
# (its own pages, plus the source pages unless they are dropped) against
# reading the converted file.
echo "== 4. page-cache growth per byte read (cold files, $REPS runs)"
SHARDS_BF16=$(shards_of "$BF16")
grow() { # variant: prints Cached growth / bytes read
  local c0 c1 size
  # shellcheck disable=SC2086
  uncache $SHARDS_BF16 "$CONV"
  case $1 in
    file) c0=$(cached_kib); cat "$CONV" >/dev/null; c1=$(cached_kib); size=$(stat -c %s "$CONV") ;;
    drop|keep)
      start "$GGUFFS" -f -o "cache_size=$CACHE_SIZE" $([ "$1" = keep ] && echo -o keep_source_cache) "$BF16" "$MNT"
      c0=$(cached_kib); cat "$MNT/model.gguf" >/dev/null; c1=$(cached_kib)
      size=$(stat -c %s "$MNT/model.gguf"); stop ;;
  esac
  awk -v a="$c0" -v b="$c1" -v s="$size" 'BEGIN {printf "%.3f\n", (b-a)*1024/s}'
}
rm -f "$WORK"/grow.*
for i in $(seq "$REPS"); do
  for v in file drop keep; do pretouch; grow "$v" >>"$WORK/grow.$v"; done
done
GF=$(median <"$WORK/grow.file"); GD=$(median <"$WORK/grow.drop"); GK=$(median <"$WORK/grow.keep")
echo "   Cached growth per byte read: converted file $GF | mount $GD | mount -o keep_source_cache $GK"
echo "   mount/file = $(ratio "$GD" "$GF")   keep_source_cache/file = $(ratio "$GK" "$GF")"
RATIO_grow=$(ratio "$GD" "$GF")

# ---- 5. llama.cpp load ----
if [ "$BENCH_LLAMA" = 1 ] && [ -d node_modules/node-llama-cpp ]; then
  echo "== 5. llama.cpp (node-llama-cpp, mmap) load of the BF16 model, $REPS interleaved runs"
  cat >"$WORK/load.mjs" <<EOF
const { getLlama, LlamaLogLevel } = await import('file://$REPO/node_modules/node-llama-cpp/dist/index.js');
const llama = await getLlama({ gpu: false, build: 'never', usePrebuiltBinaries: true, skipDownload: true, logLevel: LlamaLogLevel.error });
for (const p of process.argv.slice(2)) {
  const t0 = performance.now();
  const model = await llama.loadModel({ modelPath: p });
  console.log(((performance.now() - t0) / 1000).toFixed(3));
  await model.dispose();
}
await llama.dispose();
EOF
  load() { node "$WORK/load.mjs" "$@"; }
  warm_all() { cat $SHARDS_BF16 "$CONV" >/dev/null; }
  one_load() { # variant
    warm_all; pretouch
    case $1 in
      file) load "$CONV" >>"$WORK/load.file" ;;
      ptfs)
        start "$WORK/ptfs" -f "$CONV" "$MNT"
        load "$MNT/model.gguf" >>"$WORK/load.ptfs"; stop ;;
      mount)
        start "$GGUFFS" -f -o "cache_size=$CACHE_SIZE" "$BF16" "$MNT"
        load "$MNT/model.gguf" "$MNT/model.gguf" >"$WORK/load.pair"; stop
        sed -n 1p "$WORK/load.pair" >>"$WORK/load.mount"
        sed -n 2p "$WORK/load.pair" >>"$WORK/load.warm" ;;
    esac
  }
  rm -f "$WORK"/load.file "$WORK"/load.ptfs "$WORK"/load.mount "$WORK"/load.warm
  for i in $(seq "$REPS"); do
    case $((i % 3)) in
      1) order="file ptfs mount" ;; 2) order="ptfs mount file" ;; 0) order="mount file ptfs" ;;
    esac
    for v in $order; do one_load "$v"; done
  done
  lf=$(median <"$WORK/load.file"); lp=$(median <"$WORK/load.ptfs")
  lm=$(median <"$WORK/load.mount"); lw=$(median <"$WORK/load.warm")
  echo "   load s median: converted file $lf | ptfs $lp | fresh mount $lm | warm second load $lw"
  echo "   mount/file = $(ratio "$lm" "$lf")   ptfs/mount = $(ratio "$lp" "$lm")   warm/file = $(ratio "$lw" "$lf")"
  echo "   runs mount: $(tr '\n' ' ' <"$WORK/load.mount")| ptfs: $(tr '\n' ' ' <"$WORK/load.ptfs")| file: $(tr '\n' ' ' <"$WORK/load.file")"

  # Low memory: the loader and the daemon in one memory cgroup capped at
  # 1.5x the model; files start cold so their pages are charged inside.
  MEMCG=
  if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    MEMCG=/sys/fs/cgroup$(awk -F: '$1 == "0" {print $3}' /proc/self/cgroup); LIMIT_FILE=memory.max
  else
    MEMCG=/sys/fs/cgroup/memory$(awk -F: '$2 == "memory" {print $3}' /proc/self/cgroup); LIMIT_FILE=memory.limit_in_bytes
  fi
  if [ "$BENCH_LOWMEM" = 1 ] && [ -d "$MEMCG" ] && mkdir "$MEMCG/gguffs-bench-$$" 2>/dev/null; then
    CGROUP=$MEMCG/gguffs-bench-$$
    LIMIT=$(stat -c %s "$CONV" | awk '{printf "%.0f", $1 * 1.5}')
    echo "$LIMIT" >"$CGROUP/$LIMIT_FILE"
    echo "   low memory: cgroup $CGROUP, $LIMIT_FILE = $LIMIT (1.5x the model)"
    in_cg() { ( echo "$BASHPID" >"$CGROUP/cgroup.procs"; exec "$@" ); }
    low_load() { # variant
      # shellcheck disable=SC2086
      uncache $SHARDS_BF16 "$CONV"
      case $1 in
        file) in_cg node "$WORK/load.mjs" "$CONV" >>"$WORK/low.file" ;;
        drop|keep)
          start in_cg "$GGUFFS" -f -o "cache_size=$CACHE_SIZE" $([ "$1" = keep ] && echo -o keep_source_cache) "$BF16" "$MNT"
          in_cg node "$WORK/load.mjs" "$MNT/model.gguf" >>"$WORK/low.$1"; stop ;;
      esac
    }
    rm -f "$WORK"/low.*
    for i in $(seq "$REPS"); do for v in file drop keep; do low_load "$v"; done; done
    yf=$(median <"$WORK/low.file"); yd=$(median <"$WORK/low.drop"); yk=$(median <"$WORK/low.keep")
    echo "   low-memory load s median: converted file $yf | mount $yd | mount -o keep_source_cache $yk"
    echo "   mount/file = $(ratio "$yd" "$yf")   keep_source_cache/file = $(ratio "$yk" "$yf")"
    rmdir "$CGROUP" 2>/dev/null || true
    CGROUP=
  else
    echo "   low memory: skipped (no writable memory cgroup, or BENCH_LOWMEM=0)"
  fi
fi

# ---- 6. high-latency sources ----
echo "== 6. sources behind ptfs with no delay and with ${DELAY_MS} ms per read, $REPS interleaved runs"
lat_run() { # delay: appends ready ms (GLM) and GB/s (BF16)
  cat $(shards_of "$GLM") >/dev/null
  src_start "$GLM" "$1"
  start "$GGUFFS" -f "$SRC" "$MNT"
  echo "$READY_MS" >>"$WORK/lat.ready.$1"
  stop; src_stop
  cat $SHARDS_BF16 >/dev/null; pretouch
  src_start "$BF16" "$1"
  start "$GGUFFS" -f -o "cache_size=$CACHE_SIZE" "$SRC" "$MNT"
  local bytes secs; bytes=$(stat -c %s "$MNT/model.gguf")
  secs=$(time_cat "$MNT/model.gguf")
  stop; src_stop
  awk -v b="$bytes" -v s="$secs" 'BEGIN {printf "%.3f\n", b/s/1e9}' >>"$WORK/lat.seq.$1"
}
rm -f "$WORK"/lat.*
src_start "$GLM" 0; start "$GGUFFS" -f "$SRC" "$MNT"; stop; src_stop  # tokenizer metadata cached
for i in $(seq "$REPS"); do
  if [ $((i % 2)) = 1 ]; then lat_run 0; lat_run "$DELAY_MS"; else lat_run "$DELAY_MS"; lat_run 0; fi
done
R0=$(median <"$WORK/lat.ready.0"); RD=$(median <"$WORK/lat.ready.$DELAY_MS")
S0=$(median <"$WORK/lat.seq.0"); SD=$(median <"$WORK/lat.seq.$DELAY_MS")
echo "   GLM (48 shards) mount-to-ready ms median: no delay $R0 | ${DELAY_MS} ms $RD   ratio $(ratio "$RD" "$R0")"
echo "   BF16 sequential GB/s median: no delay $S0 | ${DELAY_MS} ms $SD   ratio $(ratio "$SD" "$S0")"

echo "== summary"
echo "   mount-to-ready (10,002 tensors, 20 shards): $READY ms (target < 100 ms)"
echo "   BF16 through gguffs / passthrough: $RATIO_bf16 (target >= 0.95)"
echo "   F32->F16 through gguffs / passthrough: $RATIO_f32 (target >= 0.85)"
echo "   peak anonymous RSS (F32): ${anon_mb} MiB vs budget ${budget_mb} MiB + 64"
echo "   page-cache growth mount/converted file: $RATIO_grow (target <= 1.1)"
if [ -n "${lm:-}" ]; then
  echo "   llama.cpp first load mount/file: $(ratio "$lm" "$lf") (target <= 1.25); ptfs/mount: $(ratio "$lp" "$lm") (target >= 0.95)"
  echo "   llama.cpp warm second load through the mount: $lw s ($(ratio "$lw" "$lf") of the file)"
fi
[ -n "${yd:-}" ] && echo "   llama.cpp load in 1.5x-model memory, mount/file: $(ratio "$yd" "$yf"); keep_source_cache/file: $(ratio "$yk" "$yf")"
echo "   ${DELAY_MS} ms per source read: mount-to-ready $(ratio "$RD" "$R0")x (target <= 2), sequential $(ratio "$SD" "$S0")x (target >= 0.5)"
