#!/usr/bin/env bash
# The whole test suite, after tools/install-deps.sh (what CI runs):
#   1. meson setup (if needed) + ninja in build/
#   2. test fixtures into tests/fixtures/out (if missing)
#   3. meson test (cmocka unit tests), with GGUFFS_FIXTURES exported
#   4. node --test tests/e2e/ (llama.cpp end-to-end tests)
#   5. the unit tests again under ASan+UBSan (build-asan/)
#   6. each libFuzzer harness of tests/fuzz for 30 s (build-fuzz/, clang)
# and a last line "N passed, N failed" counting every unit test, e2e test
# and fuzz harness. Exits non-zero if anything failed.
#
#   bash tests/run.sh              # everything (CI)
#   bash tests/run.sh --quick      # 1-4 only: for iterating
#   bash tests/run.sh --asan       # 5 only
#   bash tests/run.sh --fuzz SECS  # 6 only, SECS seconds per harness
#
# A fuzz finding is kept in build-fuzz/findings/<harness>/ (replay it with
# build-fuzz/tests/fuzz/fuzz_<harness> FILE).
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
FUZZ_SECONDS=30
STEPS=full
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) STEPS=quick ;;
    --asan) STEPS=asan ;;
    --fuzz)
      STEPS=fuzz
      FUZZ_SECONDS=${2:-}
      shift
      case "$FUZZ_SECONDS" in ''|*[!0-9]*) echo "run.sh: --fuzz needs a number of seconds" >&2; exit 2 ;; esac
      ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

LOGDIR=$(mktemp -d "${TMPDIR:-/tmp}/gguffs-run.XXXXXX")
trap 'rm -rf "$LOGDIR"' EXIT

PASSED=0
FAILED=0
SKIPPED=0
RC=0
finish() {
  # Skipped tests (the root-only system tests, say) do not count as passed;
  # say so on the line before the summary.
  [ "$SKIPPED" -eq 0 ] || echo "$SKIPPED skipped: $(grep -hE '# SKIP' "$LOGDIR"/node.log 2>/dev/null | sed -E 's/.*# SKIP *//' | sort -u | paste -sd ';' -)"
  echo "$PASSED passed, $FAILED failed"
  [ "$FAILED" -eq 0 ] && [ "$RC" -eq 0 ]
  exit $?
}
fail_step() { # message: counts one failure, and the run fails
  echo "run.sh: $*"
  FAILED=$((FAILED + 1)); RC=1
}

# build DIR [meson setup args...] [-- ninja targets...]; $BUILD_CC, if
# set, is the compiler of a new build directory.
build() {
  local dir=$1; shift
  local setup=() targets=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do setup+=("$1"); shift; done
  [ $# -gt 0 ] && shift && targets=("$@")
  echo "== build ($dir)"
  if [ ! -f "$dir/build.ninja" ]; then
    if ! CC=${BUILD_CC:-${CC:-cc}} meson setup "$dir" "${setup[@]}" >"$LOGDIR/setup-$dir.log" 2>&1; then
      cat "$LOGDIR/setup-$dir.log"
      fail_step "meson setup $dir failed"
      return 1
    fi
  fi
  if ! ninja -C "$dir" "${targets[@]}" >"$LOGDIR/ninja-$dir.log" 2>&1; then
    tail -n 60 "$LOGDIR/ninja-$dir.log"
    fail_step "build of $dir failed"
    return 1
  fi
}

fixtures() {
  echo "== fixtures"
  export GGUFFS_FIXTURES="$ROOT/tests/fixtures/out"
  # Every generator tests/fixtures/make-*.mjs writes its fixtures under the
  # one root (each skips what already exists).
  for gen in tests/fixtures/make-*.mjs; do
    if ! node "$gen" "$GGUFFS_FIXTURES" --quiet; then
      fail_step "fixture generation failed: $gen"
      return 1
    fi
  done
}

num() { # first integer after "LABEL:" in file, 0 if absent
  local v
  v=$(grep -E "^$1:[[:space:]]+[0-9]+" "$2" | tail -n 1 | grep -oE '[0-9]+' | head -n 1)
  echo "${v:-0}"
}

meson_tests() { # DIR: the cmocka unit tests of a build
  local dir=$1 log="$LOGDIR/meson-$1.log"
  echo "== meson test ($dir)"
  GGUFFS_BUILD="$ROOT/$dir" meson test -C "$dir" --print-errorlogs 2>&1 | tee "$log"
  local mrc=${PIPESTATUS[0]}
  local ok fail
  ok=$(num 'Ok' "$log")
  fail=$(( $(num 'Fail' "$log") + $(num 'Timeout' "$log") + $(num 'Unexpected Pass' "$log") ))
  if [ "$mrc" -ne 0 ] && [ "$fail" -eq 0 ]; then fail=1; fi # crashed before its summary
  PASSED=$((PASSED + ok)); FAILED=$((FAILED + fail))
  [ "$mrc" -eq 0 ] || RC=1
}

e2e_tests() {
  echo "== node --test tests/e2e/"
  GGUFFS_BUILD="$ROOT/build" node --test --test-reporter=tap tests/e2e/ 2>&1 | tee "$LOGDIR/node.log"
  local nrc=${PIPESTATUS[0]} n_pass n_fail n_canc
  n_pass=$(grep -E '^# pass [0-9]+' "$LOGDIR/node.log" | tail -n 1 | grep -oE '[0-9]+' || true)
  n_fail=$(grep -E '^# fail [0-9]+' "$LOGDIR/node.log" | tail -n 1 | grep -oE '[0-9]+' || true)
  n_canc=$(grep -E '^# cancelled [0-9]+' "$LOGDIR/node.log" | tail -n 1 | grep -oE '[0-9]+' || true)
  n_skip=$(grep -E '^# skipped [0-9]+' "$LOGDIR/node.log" | tail -n 1 | grep -oE '[0-9]+' || true)
  SKIPPED=${n_skip:-0}
  n_pass=${n_pass:-0}; n_fail=$(( ${n_fail:-0} + ${n_canc:-0} ))
  if [ "$nrc" -ne 0 ] && [ "$n_fail" -eq 0 ]; then n_fail=1; fi
  PASSED=$((PASSED + n_pass)); FAILED=$((FAILED + n_fail))
  [ "$nrc" -eq 0 ] || RC=1
}

asan_tests() {
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
    meson_tests build-asan
}

HARNESSES=(safetensors gguf spm tokenizer config)

# Each harness for FUZZ_SECONDS from seeds made from the fixtures; one pass
# or one failure per harness.
fuzz_tests() {
  echo "== fuzz (${FUZZ_SECONDS} s per harness)"
  local seeds="$LOGDIR/seeds"
  if ! node tests/fuzz/seeds.mjs "$GGUFFS_FIXTURES" "$ROOT/build" "$seeds" >"$LOGDIR/seeds.log" 2>&1; then
    cat "$LOGDIR/seeds.log"
    fail_step "fuzz seed corpus failed"
    return 1
  fi
  for h in "${HARNESSES[@]}"; do
    local corpus="$LOGDIR/corpus/$h" findings="$ROOT/build-fuzz/findings/$h" log="$LOGDIR/fuzz-$h.log"
    mkdir -p "$corpus" "$findings"
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
      "build-fuzz/tests/fuzz/fuzz_$h" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
      -dict=tests/fuzz/json.dict -artifact_prefix="$findings/" -print_final_stats=1 \
      "$corpus" "$seeds/$h" >"$log" 2>&1 </dev/null
    local frc=$? runs
    runs=$(grep -E '^stat::number_of_executed_units:' "$log" | grep -oE '[0-9]+' | tail -n 1)
    if [ $frc -eq 0 ]; then
      echo "ok fuzz_$h: ${runs:-0} runs, 0 findings"
      PASSED=$((PASSED + 1))
    else
      grep -E -A 30 'ERROR|runtime error|deadly signal|Timeout|out-of-memory' "$log" | head -n 60
      echo "not ok fuzz_$h: finding kept in $findings/ (exit $frc)"
      for f in "$findings"/*; do [ -f "$f" ] && { echo "  $f:"; od -A d -c "$f" | head -n 20; }; done
      FAILED=$((FAILED + 1)); RC=1
    fi
  done
}

asan_setup=(-Db_sanitize=address,undefined -Dbuildtype=debugoptimized)
fuzz_setup=(-Dfuzz=true -Db_sanitize=address,undefined -Dbuildtype=debugoptimized
            -Dc_args=-fsanitize=fuzzer-no-link -Db_lundef=false)
fuzz_targets=()
for h in "${HARNESSES[@]}"; do fuzz_targets+=("tests/fuzz/fuzz_$h"); done

case $STEPS in
  quick|full)
    build build || finish
    fixtures || finish
    meson_tests build
    e2e_tests
    ;;&
  asan|full)
    [ $STEPS = asan ] && { fixtures || finish; }
    if build build-asan "${asan_setup[@]}"; then asan_tests; fi
    ;;&
  fuzz|full)
    if [ $STEPS = fuzz ]; then build build || finish; fixtures || finish; fi
    if ! command -v clang >/dev/null 2>&1; then
      fail_step "clang missing: the fuzz harnesses need it (tools/install-deps.sh installs it)"
    elif BUILD_CC=clang build build-fuzz "${fuzz_setup[@]}" -- "${fuzz_targets[@]}"; then
      fuzz_tests
    fi
    ;;
esac
finish
