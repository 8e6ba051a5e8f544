#!/usr/bin/env bash
# gpt-oss benchmark (prints figures; not a test).
#
# Makes a gpt-oss-120b-shaped tree (36 layers x 128 MXFP4 experts, top 4,
# the real o200k Harmony tokenizer, ~1.9 GB in 15 shards, small matrices)
# with tests/fixtures/make-gptoss.mjs --bench, then measures, interleaving
# runs and reporting medians:
#   1. mount-ready: `gguffs -f DIR MNT` started until MNT/model.gguf exists;
#   2. sequential read of every expert tensor (MNT/tensors/*_exps.weight:
#      MXFP4 blocks repacked from the sources), against reading the source
#      shards (nearly all expert bytes) through bench/ptfs.c, the trivial
#      passthrough FUSE filesystem: the ratio of bytes per second;
#   3. the engine's counters over those reads (stats.json): elements that
#      went through a conversion or an op (the only float arithmetic) for the
#      experts: must be 0; bytes repacked.
# Page cache: sources are read warm (a first untimed read of every shard).
#
#   bash bench/gptoss-bench.sh
#   GGUFFS_BUILD (default build), GPTOSS_BENCH_DIR (default /tmp/gguffs-gptoss-bench), RUNS (default 3)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
BUILD=${GGUFFS_BUILD:-$ROOT/build}
OUT=${GPTOSS_BENCH_DIR:-/tmp/gguffs-gptoss-bench}
RUNS=${RUNS:-3}
DIR=$OUT/gptoss-bench
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gptoss-bench.XXXXXX")
MNT=$WORK/mnt
PMNT=$WORK/pmnt
PID=
cleanup() {
  fusermount3 -u "$MNT" 2>/dev/null || true
  fusermount3 -u "$PMNT" 2>/dev/null || true
  [ -n "$PID" ] && kill "$PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$MNT" "$PMNT"

ninja -C "$BUILD" gguffs >/dev/null
node tests/fixtures/make-gptoss.mjs "$OUT" --bench
cc -O2 -Wall bench/ptfs.c $(pkg-config --cflags --libs fuse3) -o "$WORK/ptfs"
SHARDS=$(du -cb "$DIR"/*.safetensors | tail -n 1 | cut -f1)
echo "== $DIR: $(ls "$DIR"/*.safetensors | wc -l) shards, $SHARDS bytes"
cat "$DIR"/*.safetensors >/dev/null   # warm the page cache

now_ns() { date +%s%N; }
wait_for() { # file pid
  until [ -e "$1" ]; do
    kill -0 "$2" 2>/dev/null || { wait "$2"; echo "gptoss-bench: mount died ($?): $(cat "$WORK/err" 2>/dev/null)"; exit 1; }
    sleep 0.001
  done
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

: >"$WORK/ready.runs"; : >"$WORK/gguffs.runs"; : >"$WORK/ptfs.runs"
for r in $(seq 1 "$RUNS"); do
  # gguffs: mount-ready, then every expert tensor in file order
  t0=$(now_ns)
  GGUFFS_CACHE_DIR=$WORK/tokcache "$BUILD/gguffs" -f "$DIR" "$MNT" 2>"$WORK/err" &
  PID=$!
  wait_for "$MNT/model.gguf" "$PID"
  echo $(( ($(now_ns) - t0) / 1000 )) >>"$WORK/ready.runs"
  before=$(cat "$MNT/stats.json")
  t0=$(now_ns)
  bytes=$(cat "$MNT"/tensors/blk.*.ffn_*_exps.weight | wc -c)
  t1=$(now_ns)
  after=$(cat "$MNT/stats.json")
  echo "$bytes $(( t1 - t0 ))" | awk '{printf "%.3f\n", $1 / $2}' >>"$WORK/gguffs.runs"
  EXPERT_BYTES=$bytes
  STATS=$(node -e '
    const [b, a] = process.argv.slice(1).map(s => JSON.parse(s).engine);
    console.log(`convert_elems +${a.convert_elems - b.convert_elems}, repack_bytes +${a.repack_bytes - b.repack_bytes}, src_bytes +${a.src_bytes - b.src_bytes}`);' "$before" "$after")
  fusermount3 -u "$MNT"; wait "$PID" || true; PID=
  # passthrough: the source shards
  "$WORK/ptfs" -f "$DIR" "$PMNT" 2>"$WORK/err" &
  PID=$!
  wait_for "$PMNT/config.json" "$PID"
  t0=$(now_ns)
  bytes=$(cat "$PMNT"/*.safetensors | wc -c)
  t1=$(now_ns)
  echo "$bytes $(( t1 - t0 ))" | awk '{printf "%.3f\n", $1 / $2}' >>"$WORK/ptfs.runs"
  fusermount3 -u "$PMNT"; wait "$PID" || true; PID=
done
ready=$(median <"$WORK/ready.runs"); g=$(median <"$WORK/gguffs.runs"); p=$(median <"$WORK/ptfs.runs")
echo "mount-ready: median $(awk -v u="$ready" 'BEGIN{printf "%.0f", u/1000}') ms (runs, us: $(tr '\n' ' ' <"$WORK/ready.runs"))"
echo "expert tensors: $EXPERT_BYTES bytes; GB/s median gguffs $g | ptfs (source shards) $p; gguffs/ptfs = $(awk -v a="$g" -v b="$p" 'BEGIN{printf "%.2f", a/b}')"
echo "engine over the expert reads (last run): $STATS"
