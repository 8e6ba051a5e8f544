#!/usr/bin/env bash
# The whole test suite, after tools/install-deps.sh:
#   1. meson setup (if needed) + ninja
#   2. test fixtures into tests/fixtures/out (if missing)
#   3. meson test (cmocka unit tests), with GGUFFS_FIXTURES exported
#   4. node --test tests/e2e/ (llama.cpp end-to-end tests)
# and a last line "N passed, N failed" summing both runners. Exits non-zero if
# anything failed.
#
#   bash tests/run.sh          # everything
#   bash tests/run.sh --asan   # ASan+UBSan build in build-asan, meson tests only
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
ASAN=0
for a in "$@"; do
  case "$a" in
    --asan) ASAN=1 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $a" >&2; exit 2 ;;
  esac
done

if [ $ASAN = 1 ]; then
  BUILD=build-asan
  SETUP_ARGS=(-Db_sanitize=address,undefined -Dbuildtype=debugoptimized)
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
else
  BUILD=build
  SETUP_ARGS=()
fi
LOGDIR=$(mktemp -d "${TMPDIR:-/tmp}/gguffs-run.XXXXXX")
trap 'rm -rf "$LOGDIR"' EXIT

PASSED=0
FAILED=0
SKIPPED=0
finish() {
  # Skipped tests (the root-only system tests, say) do not count as passed;
  # say so on the line before the summary.
  [ "$SKIPPED" -eq 0 ] || echo "$SKIPPED skipped: $(grep -E '# SKIP' "$LOGDIR/node.log" | sed -E 's/.*# SKIP *//' | sort -u | paste -sd ';' -)"
  echo "$PASSED passed, $FAILED failed"
  [ "$FAILED" -eq 0 ] && [ "${1:-0}" -eq 0 ]
  exit $?
}

echo "== build ($BUILD)"
if [ ! -f "$BUILD/build.ninja" ]; then
  if ! meson setup "$BUILD" "${SETUP_ARGS[@]}" >"$LOGDIR/setup.log" 2>&1; then
    cat "$LOGDIR/setup.log"
    echo "run.sh: meson setup failed"
    FAILED=$((FAILED + 1)); finish 1
  fi
fi
if ! ninja -C "$BUILD" >"$LOGDIR/ninja.log" 2>&1; then
  tail -n 60 "$LOGDIR/ninja.log"
  echo "run.sh: build failed"
  FAILED=$((FAILED + 1)); finish 1
fi

echo "== fixtures"
export GGUFFS_FIXTURES="$ROOT/tests/fixtures/out"
export GGUFFS_BUILD="$ROOT/$BUILD"
# Every generator tests/fixtures/make-*.mjs writes its fixtures under the
# one root (each skips what already exists).
for gen in tests/fixtures/make-*.mjs; do
  if ! node "$gen" "$GGUFFS_FIXTURES" --quiet; then
    echo "run.sh: fixture generation failed: $gen"
    FAILED=$((FAILED + 1)); finish 1
  fi
done

RC=0
echo "== meson test"
meson test -C "$BUILD" --print-errorlogs 2>&1 | tee "$LOGDIR/meson.log"
mrc=${PIPESTATUS[0]}
num() { # first integer after "LABEL:" in file, 0 if absent
  local v
  v=$(grep -E "^$1:[[:space:]]+[0-9]+" "$2" | tail -n 1 | grep -oE '[0-9]+' | head -n 1)
  echo "${v:-0}"
}
m_ok=$(num 'Ok' "$LOGDIR/meson.log")
m_fail=$(( $(num 'Fail' "$LOGDIR/meson.log") + $(num 'Timeout' "$LOGDIR/meson.log") + $(num 'Unexpected Pass' "$LOGDIR/meson.log") ))
if [ "$mrc" -ne 0 ] && [ "$m_fail" -eq 0 ]; then m_fail=1; fi   # crashed before its summary
PASSED=$((PASSED + m_ok)); FAILED=$((FAILED + m_fail))
[ "$mrc" -eq 0 ] || RC=1

if [ $ASAN = 0 ]; then
  echo "== node --test tests/e2e/"
  node --test --test-reporter=tap tests/e2e/ 2>&1 | tee "$LOGDIR/node.log"
  nrc=${PIPESTATUS[0]}
  n_pass=$(grep -E '^# pass [0-9]+' "$LOGDIR/node.log" | tail -n 1 | grep -oE '[0-9]+' || true)
  n_fail=$(grep -E '^# fail [0-9]+' "$LOGDIR/node.log" | tail -n 1 | grep -oE '[0-9]+' || true)
  n_canc=$(grep -E '^# cancelled [0-9]+' "$LOGDIR/node.log" | tail -n 1 | grep -oE '[0-9]+' || true)
  n_skip=$(grep -E '^# skipped [0-9]+' "$LOGDIR/node.log" | tail -n 1 | grep -oE '[0-9]+' || true)
  SKIPPED=${n_skip:-0}
  n_pass=${n_pass:-0}; n_fail=$(( ${n_fail:-0} + ${n_canc:-0} ))
  if [ "$nrc" -ne 0 ] && [ "$n_fail" -eq 0 ]; then n_fail=1; fi
  PASSED=$((PASSED + n_pass)); FAILED=$((FAILED + n_fail))
  [ "$nrc" -eq 0 ] || RC=1
fi

finish $RC
