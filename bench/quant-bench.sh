#!/usr/bin/env bash
# quant-bench.sh - -o type= benchmark (not a test): prints medians and the
# ratios issue 10 asks for, from one run of interleaved repetitions.
#
#   bash bench/quant-bench.sh     # as root
#
# Model: the ~2.2 GB BF16 Llama of make-fixtures.mjs --big (hidden 2048,
# intermediate 5632: rows of 256, so the k-quants apply), sources warm.
# For each type (Q8_0, Q4_K_M):
#   (a) time until llama.cpp has the quantized model loaded: gguffs mount
#       (-f until model.gguf shows) + llama.cpp load through it, against
#       the pipeline it replaces: gguffs-convert to BF16 + llama-quantize
#       (llama_model_quantize of the bundled libllama, THREADS threads) +
#       llama.cpp load of that file;
#   (b) gguffs-convert -o type= throughput against llama_model_quantize of
#       the BF16 file, same thread count (THREADS = the machine's cores);
#   (c) with -o cache_dir= filled by an earlier mount, a fresh mount's
#       llama.cpp load against the load of llama-quantize's file; the same
#       file served by bench/ptfs.c (a trivial passthrough FUSE fs) shows
#       what FUSE alone costs that load;
#   (d) peak anonymous RSS of the daemon during (a) and (c), against the
#       cache budget.
# llama.cpp loads are node-llama-cpp's (mmap), timed inside one node
# process per load.
#
# Env: BUILD (default <repo>/build), BENCH_DIR (default <repo>/bench/out),
# BENCH_BYTES (default 2200000000), REPS (default 3), TYPES (default
# "Q8_0 Q4_K_M"), THREADS (default: online CPUs), CACHE_SIZE (default 64M),
# PRETOUCH_GB (default 4: touch and free that much memory before each
# measured page-cache fill, as mount-bench.sh does; 0 disables).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD
BUILD=${BUILD:-$REPO/build}
BENCH_DIR=${BENCH_DIR:-$REPO/bench/out}
BENCH_BYTES=${BENCH_BYTES:-2200000000}
REPS=${REPS:-3}
TYPES=${TYPES:-"Q8_0 Q4_K_M"}
THREADS=${THREADS:-$(nproc)}
CACHE_SIZE=${CACHE_SIZE:-64M}
PRETOUCH_GB=${PRETOUCH_GB:-4}
GGUFFS=$BUILD/gguffs
CONVERT=$BUILD/gguffs-convert
QUANTIZE=$BUILD/tests/llama-quantize-ref
BINS=$REPO/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64
for x in "$GGUFFS" "$CONVERT" "$QUANTIZE"; do
  [ -x "$x" ] || { echo "quant-bench: $x missing (ninja -C $BUILD)"; exit 1; }
done
[ -d "$REPO/node_modules/node-llama-cpp" ] || { echo "quant-bench: node-llama-cpp missing (tools/install-deps.sh)"; exit 1; }

declare -A FTYPE=([Q8_0]=7 [Q4_0]=2 [Q4_K_M]=15 [Q4_K_S]=14 [Q5_K_M]=17 [Q6_K]=18 [Q3_K_M]=12 [Q2_K]=10)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gguffs-quant-bench.XXXXXX")
MNT=$WORK/mnt
mkdir -p "$MNT"
DAEMON=
cleanup() {
  if mountpoint -q "$MNT" 2>/dev/null; then fusermount3 -u "$MNT" || fusermount3 -uz "$MNT"; fi
  [ -n "$DAEMON" ] && kill "$DAEMON" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

. bench/lib.sh
secs_since() { awk -v a="$1" -v b="$(now_ns)" 'BEGIN {printf "%.3f\n", (b-a)/1e9}'; }
add() { awk -v a="$1" -v b="$2" -v c="${3:-0}" 'BEGIN {printf "%.3f", a+b+c}'; }
runs() { tr '\n' ' ' <"$1"; }

bench_tools

cat >"$WORK/load.mjs" <<EOF
const { getLlama, LlamaLogLevel } = await import('file://$REPO/node_modules/node-llama-cpp/dist/index.js');
const llama = await getLlama({ gpu: false, build: 'never', usePrebuiltBinaries: true, skipDownload: true, logLevel: LlamaLogLevel.error });
const t0 = performance.now();
const model = await llama.loadModel({ modelPath: process.argv[2] });
console.log(((performance.now() - t0) / 1000).toFixed(3));
await model.dispose();
await llama.dispose();
EOF
load() { node "$WORK/load.mjs" "$1"; }

# Start a FUSE daemon in the foreground on $MNT (its pid in DAEMON) and wait
# for model.gguf; READY_S is how long that took.
start() {
  local t0; t0=$(now_ns)
  "$@" >"$WORK/daemon.log" 2>&1 &
  DAEMON=$!
  while [ ! -e "$MNT/model.gguf" ]; do
    kill -0 "$DAEMON" 2>/dev/null || { cat "$WORK/daemon.log" >&2; echo "quant-bench: daemon died" >&2; exit 1; }
    nap 0.001
  done
  READY_S=$(secs_since "$t0")
}
stop() {
  fusermount3 -u "$MNT"
  wait "$DAEMON" 2>/dev/null || true
  DAEMON=
}
# Peak RssAnon (KiB) of pid until the file $2 appears or pid exits.
sample_rss() {
  local peak=0 a
  while [ ! -e "$2" ] && [ -e "/proc/$1/status" ]; do
    a=$(awk '/^RssAnon:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0)
    [ "${a:-0}" -gt "$peak" ] && peak=$a
    nap 0.02
  done
  echo "$peak"
}
# gguffs -f with -o OPTS: mount, load through it; appends the mount
# seconds, the load seconds and the daemon's peak RssAnon to $1.{mnt,load,rss}.
mount_load() { # prefix opts
  pretouch
  start "$GGUFFS" -f -o "cache_size=$CACHE_SIZE,$2" "$MODEL" "$MNT"
  rm -f "$WORK/rss.stop"
  sample_rss "$DAEMON" "$WORK/rss.stop" >"$WORK/rss.now" &
  local sampler=$!
  load "$MNT/model.gguf" >>"$1.load"
  grep -o '"kernel":[[:space:]]*"[a-z0-9]*"' "$MNT/stats.json" >"$WORK/kernel" || true
  touch "$WORK/rss.stop"; wait "$sampler"
  cat "$WORK/rss.now" >>"$1.rss"
  echo "$READY_S" >>"$1.mnt"
  stop
}
timed() { # command...: prints its seconds; a failure ends the benchmark
  local t0; t0=$(now_ns)
  "$@" >/dev/null 2>"$WORK/timed.err" || { cat "$WORK/timed.err" >&2; echo "quant-bench: $1 failed" >&2; kill $$; }
  secs_since "$t0"
}

# The chunk cache budget in MiB (cache_size takes K/M/G suffixes).
BUDGET_MIB=$(numfmt --from=iec "$CACHE_SIZE" | awk '{printf "%d", $1 / 1048576}')
SUMMARY=()

echo "== model in $BENCH_DIR"
node tests/fixtures/make-fixtures.mjs "$BENCH_DIR" --big "$BENCH_BYTES" --quiet
MODEL=$BENCH_DIR/llama-big
cat "$MODEL"/*.safetensors >/dev/null
BF16=$WORK/bf16.gguf
echo "   $(du -sh "$MODEL" | cut -f1) of BF16 safetensors; threads $THREADS; cache_size $CACHE_SIZE; $REPS interleaved repetitions"

for T in $TYPES; do
  F=${FTYPE[$T]:?unknown type $T}
  P=$WORK/$T
  Q=$WORK/$T.llama.gguf
  echo "== $T"
  rm -f "$P".*
  for r in $(seq "$REPS"); do
    # The pipeline: convert to BF16, llama-quantize, load.
    pretouch; rm -f "$BF16"; timed "$CONVERT" "$MODEL" "$BF16" >>"$P.conv"
    pretouch; rm -f "$Q"; timed "$QUANTIZE" "$BINS" "$BF16" "$Q" "$F" "$THREADS" >>"$P.lq"
    [ -s "$Q" ] || { echo "quant-bench: llama-quantize failed"; exit 1; }
    pretouch; load "$Q" >>"$P.fileload"
    # gguffs-convert -o type= on the same machine (all its cores).
    pretouch; rm -f "$WORK/g.gguf"; timed "$CONVERT" -o "type=$T" "$MODEL" "$WORK/g.gguf" >>"$P.gq"
    rm -f "$WORK/g.gguf"
    # (a): a fresh mount and llama.cpp's load through it.
    mount_load "$P.a" "type=$T"
    # (c): fill a chunk store, then a fresh mount that finds every chunk;
    # and llama-quantize's file behind ptfs (the FUSE cost alone).
    rm -rf "$WORK/store"
    start "$GGUFFS" -f -o "cache_size=$CACHE_SIZE,type=$T,cache_dir=$WORK/store" "$MODEL" "$MNT"
    cat "$MNT/model.gguf" >/dev/null; stop
    mount_load "$P.c" "type=$T,cache_dir=$WORK/store"
    pretouch; start "$WORK/ptfs" -f "$Q" "$MNT"; load "$MNT/model.gguf" >>"$P.ptfs"; stop
    pretouch; load "$Q" >>"$P.fileload2"
  done
  conv=$(median <"$P.conv"); lq=$(median <"$P.lq"); fl=$(median <"$P.fileload"); gq=$(median <"$P.gq")
  am=$(median <"$P.a.mnt"); al=$(median <"$P.a.load"); cl=$(median <"$P.c.load"); pl=$(median <"$P.ptfs")
  fl2=$(median <"$P.fileload2")
  pipe=$(add "$conv" "$lq" "$fl"); ours=$(add "$am" "$al")
  arss=$(median <"$P.a.rss"); crss=$(median <"$P.c.rss")
  echo "   pipeline s: convert BF16 $conv + llama-quantize $lq + load $fl = $pipe   (runs llama-quantize: $(runs "$P.lq"))"
  echo "   gguffs s:   mount $am + load through it $al = $ours   (runs load: $(runs "$P.a.load"))"
  echo "   (a) mount+load / pipeline = $(ratio "$ours" "$pipe")"
  echo "   (b) gguffs-convert -o type=$T $gq s, llama_model_quantize $lq s: throughput ratio = $(ratio "$lq" "$gq")   (runs gguffs-convert: $(runs "$P.gq"))"
  echo "   (c) second mount (cache_dir): mount $(median <"$P.c.mnt") s, load $cl s / llama-quantize file load $fl2 s = $(ratio "$cl" "$fl2");   ptfs load of that file $pl s / file = $(ratio "$pl" "$fl2")   (runs: mount $(runs "$P.c.load")| ptfs $(runs "$P.ptfs")| file $(runs "$P.fileload2"))"
  echo "   quantization kernel: $(grep -o '"[a-z0-9]*"$' "$WORK/kernel" | tr -d '"')"
  peak=$(sort -n "$P.a.rss" "$P.c.rss" | tail -1)
  echo "   (d) peak daemon RssAnon (largest of all runs): $((peak / 1024)) MiB (during (a): $(runs "$P.a.rss")KiB; (c): $(runs "$P.c.rss")KiB) / (cache budget $CACHE_SIZE + 64 MiB) = $(ratio "$peak" "$(( (BUDGET_MIB + 64) * 1024 ))")"
  SUMMARY+=("$(printf '| %-7s | %s | %s | %s | %s |' "$T" "$(ratio "$ours" "$pipe")" "$(ratio "$lq" "$gq")" "$(ratio "$cl" "$fl2")" "$(ratio "$peak" "$(( (BUDGET_MIB + 64) * 1024 ))")")")
done

echo "== summary (acceptance: (a) <= 0.5 for Q8_0, <= 0.6 for Q4_K_M; (b) >= 1.0; (c) <= 1.3; (d) <= 1.0)"
echo "| type    | (a) mount+load / pipeline | (b) gguffs-convert / llama_model_quantize throughput | (c) store-backed mount load / file load | (d) peak RssAnon / (budget + 64 MiB) |"
echo "|---|---|---|---|---|"
printf '%s\n' "${SUMMARY[@]}"
