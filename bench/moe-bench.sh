#!/usr/bin/env bash
# Mixture-of-experts benchmark (prints figures; not a test), for two trees
# with a real checkpoint's tensor layout and count but tiny dims:
#   glm       GLM-4.7-Flash: 47 layers + the MTP layer, 64 routed experts
#             each stored as 3 tensors, 48 shards, the 7.8 MB DeepSeek-V3
#             tokenizer.json (tests/fixtures/make-glm.mjs --bench)
#   qwen3moe  Qwen3-30B-A3B-shaped: 48 layers x 128 experts x 3 tensors,
#             ~18,800 source tensors in 16 shards, the real 11 MB Qwen
#             tokenizer.json (tests/fixtures/make-qwen.mjs --bench)
# It measures:
#   1. gg_model_open alone (headers, JSON, tokenizer, plan), median of 20,
#      with the real tokenizer and with a 2-token one (the plan's own cost);
#   2. mount-ready time: `gguffs -f DIR MNT` started until MNT/model.gguf
#      exists (includes process start and the FUSE handshake): the first
#      mount with an empty tokenizer cache, then the median of 5 with the
#      tokenizer metadata cached (tokcache.h);
#   3. source reads for one expert's slice of a stacked tensor, counted with
#      the engine trace (engine.h gg_engine_set_trace): every byte read must
#      belong to that expert's own source tensor.
# 1 and 3 use a small C program compiled here against the build's static
# libraries (the trace hook is not reachable from outside the process).
#
#   bash bench/moe-bench.sh [glm|qwen3moe]   # default glm
#   env: GGUFFS_BUILD (default build), MOE_BENCH_DIR (default /tmp/gguffs-moe-bench)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
BUILD=${GGUFFS_BUILD:-$ROOT/build}
OUT=${MOE_BENCH_DIR:-/tmp/gguffs-moe-bench}
FAMILY=${1:-glm}
case "$FAMILY" in
  glm) GEN=make-glm.mjs; DIR=$OUT/glm-bench; EXPERT=blk.23.ffn_up_exps.weight; TOKDESC="7.8 MB DeepSeek-V3" ;;
  qwen3moe) GEN=make-qwen.mjs; DIR=$OUT/qwen3moe-bench; EXPERT=blk.23.ffn_up_exps.weight; TOKDESC="11 MB Qwen" ;;
  *) echo "usage: $0 [glm|qwen3moe]" >&2; exit 2 ;;
esac
WORK=$(mktemp -d "${TMPDIR:-/tmp}/moe-bench.XXXXXX")
export GGUFFS_CACHE_DIR=$WORK/tokcache
MNT=$WORK/mnt
GGUFFS_PID=
cleanup() {
  fusermount3 -u "$MNT" 2>/dev/null || true
  [ -n "$GGUFFS_PID" ] && kill "$GGUFFS_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

ninja -C "$BUILD" gguffs libgguffs-convert-core.a >/dev/null
node "tests/fixtures/$GEN" "$OUT" --bench

nt=$(node -e '
  const fs = require("fs"), d = process.argv[1]; let n = 0, s = 0;
  for (const f of fs.readdirSync(d)) if (f.endsWith(".safetensors")) {
    s++; const fd = fs.openSync(d + "/" + f, "r"), b = Buffer.alloc(8); fs.readSync(fd, b, 0, 8, 0);
    const h = Buffer.alloc(Number(b.readBigUInt64LE())); fs.readSync(fd, h, 0, h.length, 8);
    n += Object.keys(JSON.parse(h)).filter(k => k !== "__metadata__").length; }
  console.log(n + " source tensors in " + s + " shards");' "$DIR")
echo "== $DIR: $nt"

cat >"$WORK/probe.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "engine.h"
#include "model.h"

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}
static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}
struct tally { const struct st_tensor *want; unsigned long reads, bytes, foreign_reads; };
static void on_read(const struct st_tensor *st, uint64_t off, uint64_t len, void *arg)
{
	struct tally *t = arg;
	t->reads++, t->bytes += len;
	if (st != t->want || off < st->offset || off + len > st->offset + st->nbytes)
		t->foreign_reads++;
}
int main(int argc, char **argv)
{
	struct gg_options opt = { .profile = GG_PROFILE_LLAMACPP };
	struct gg_model *m = NULL;
	gg_err e;
	double t[20];
	for (int i = 0; i < 20; i++) {
		double t0 = now_ms();
		if (gg_model_open(argv[1], &opt, &m, &e)) { fprintf(stderr, "%s\n", e.msg); return 1; }
		t[i] = now_ms() - t0;
		if (i < 19) gg_model_close(m);
	}
	qsort(t, 20, sizeof *t, cmp);
	const struct gg_outfile *f = &m->files[0];
	printf("gg_model_open: median %.1f ms (min %.1f, max %.1f); %zu output tensors, %zu source tensors\n",
	       t[10], t[0], t[19], f->ntensors, m->st->ntensors);
	const char *name = argv[2];
	const struct gg_tensor *x = NULL;
	for (size_t i = 0; i < f->ntensors; i++)
		if (!strcmp(f->tensors[i].name, name)) x = &f->tensors[i];
	if (!x) { fprintf(stderr, "no %s\n", name); return 1; }
	uint64_t per = x->nbytes / x->nsrc;
	char *buf = malloc(per);
	int fails = 0;
	for (unsigned ex = 0; ex < x->nsrc; ex += 21) {
		struct tally tl = { .want = x->srcs[ex].st };
		gg_engine_set_trace(on_read, &tl);
		if (gg_tensor_read(f, x, ex * per, per, buf, &e)) { fprintf(stderr, "%s\n", e.msg); return 1; }
		gg_engine_set_trace(NULL, NULL);
		printf("read expert %2u of %s (%llu bytes): %lu source reads, %lu bytes, all from %s; reads outside it: %lu\n",
		       ex, name, (unsigned long long)per, tl.reads, tl.bytes, tl.want->name, tl.foreign_reads);
		fails += tl.foreign_reads != 0 || tl.bytes != per;
	}
	gg_model_close(m);
	free(buf);
	return fails ? 1 : 0;
}
C
# shellcheck disable=SC2046
cc -O2 -std=c11 -D_GNU_SOURCE -I include -o "$WORK/probe" "$WORK/probe.c" \
  "$BUILD/libgguffs-convert-core.a" $(pkg-config --libs libcjson libxxhash libcrypto) -lpthread -lm
echo "== in-process, real $TOKDESC tokenizer.json (metadata cached after the first open)"
"$WORK/probe" "$DIR" "$EXPERT"
# The same shards with a 2-token tokenizer.json: what the tensor plan alone
# costs (headers, renames, expert stacking, kv_b views, layout).
NOTOK=$WORK/notok
mkdir -p "$NOTOK"
ln -s "$DIR"/*.safetensors "$DIR"/config.json "$DIR"/model.safetensors.index.json "$NOTOK"/
echo '{"model": {"vocab": {"a": 0, "b": 1}}}' >"$NOTOK/tokenizer.json"
echo "== in-process, tokenizer.json of 2 tokens"
"$WORK/probe" "$NOTOK" "$EXPERT" | head -n 1

echo "== mount-ready (gguffs -f, until model.gguf appears): 1 uncached, then 5 cached"
rm -rf "$GGUFFS_CACHE_DIR"
mkdir -p "$MNT"
runs=()
for i in 0 1 2 3 4 5; do
  t0=$(date +%s%N)
  "$BUILD/gguffs" -f "$DIR" "$MNT" 2>"$WORK/gguffs.err" &
  GGUFFS_PID=$!
  until [ -e "$MNT/model.gguf" ]; do
    kill -0 "$GGUFFS_PID" 2>/dev/null || { cat "$WORK/gguffs.err"; exit 1; }
    sleep 0.001
  done
  t1=$(date +%s%N)
  if [ "$i" = 0 ]; then first=$(( (t1 - t0) / 1000 )); else runs+=($(( (t1 - t0) / 1000 ))); fi
  size=$(stat -c %s "$MNT/model.gguf")
  fusermount3 -u "$MNT"
  wait "$GGUFFS_PID" || true
  GGUFFS_PID=
done
sorted=$(printf '%s\n' "${runs[@]}" | sort -n | tr '\n' ' ')
median=$(printf '%s\n' "${runs[@]}" | sort -n | sed -n 3p)
echo "mount-ready, tokenizer not cached (first mount): $((first / 1000)).$(( (first % 1000) / 100 )) ms"
echo "mount-ready, tokenizer cached: median $((median / 1000)).$(( (median % 1000) / 100 )) ms (runs, us: $sorted); model.gguf $size bytes"
