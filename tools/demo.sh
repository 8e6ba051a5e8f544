#!/usr/bin/env bash
# The demo, on a fresh Debian 12 machine (root, or a user with sudo):
# installs the dependencies, builds gguffs, makes a small demo Llama
# (random weights, the real Llama 3 tokenizer), mounts it, lists the mount,
# prints the GGUF header, runs llama.cpp for a few tokens on the mounted
# model.gguf and unmounts.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
WORK=${GGUFFS_DEMO_DIR:-/tmp/gguffs-demo}

export GGUFFS_NODE_FROM_NPM=${GGUFFS_NODE_FROM_NPM:-1}
bash tools/install-deps.sh </dev/null
echo "== build"
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null

HF=$WORK/models/llama-bf16-3shard-rope3
echo "== demo model ($HF)"
mkdir -p "$WORK"
node tests/fixtures/make-fixtures.mjs "$WORK/models" --only llama-bf16-3shard-rope3 --quiet
ls -l "$HF"

MNT=$WORK/mnt
mkdir -p "$MNT"
mountpoint -q "$MNT" && fusermount3 -u "$MNT"
cleanup() { mountpoint -q "$MNT" && fusermount3 -u "$MNT"; }
trap cleanup EXIT

echo "== mount: build/gguffs $HF $MNT"
t0=$(date +%s%N)
build/gguffs "$HF" "$MNT"
echo "mounted in $(( ($(date +%s%N) - t0) / 1000000 )) ms"

echo "== ls -l $MNT"
ls -l "$MNT"
echo "== ls $MNT/tensors | head"
ls "$MNT/tensors" | head -n 8

echo "== gguffs-inspect $MNT/model.gguf (first lines)"
build/gguffs-inspect "$MNT/model.gguf" | head -n 40

echo "== llama.cpp on the mount"
node tools/demo-generate.mjs "$MNT/model.gguf" "Once upon a time" 12

echo "== stats.json"
cat "$MNT/stats.json"; echo

echo "== unmount"
fusermount3 -u "$MNT"
trap - EXIT
echo "demo done"
