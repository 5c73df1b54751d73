#!/usr/bin/env bash
# Install what Gale needs when it is missing, on Debian or Ubuntu (as root, or with sudo).
#   scripts/deps.sh run    to build and run: libevent, OpenSSL, cmake, pkg-config, a C compiler
#   scripts/deps.sh test   also the test tools: valgrind, curl, Python with tornado/requests/websockets
#   scripts/deps.sh bench  also the load generator (wrk) and the tools the benchmarks use
set -euo pipefail
mode="${1:-run}"

if ! command -v swift >/dev/null 2>&1; then
  echo "deps: a Swift 6 toolchain is needed (https://www.swift.org/install/linux/); 'swift' is not on PATH" >&2
  exit 1
fi

need=(pkg-config libevent-dev libssl-dev cmake make gcc libc6-dev)
case "$mode" in
  run) ;;
  test) need+=(valgrind curl procps) ;;
  bench) need+=(valgrind curl procps wrk bc iproute2 util-linux binutils) ;;
  *) echo "usage: scripts/deps.sh run|test|bench" >&2; exit 2 ;;
esac
command -v python3 >/dev/null 2>&1 || need+=(python3)

missing=()
for p in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; fi
fi

apt_install() {
  if [ "$(id -u)" -ne 0 ] && [ -z "$sudo" ]; then
    echo "deps: missing packages ($*) and not root without sudo; install them and rerun" >&2
    exit 1
  fi
  echo "deps: installing $*"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi

# Python modules the interoperability tests talk to: the real Tornado, requests, websockets.
if [ "$mode" != run ]; then
  for mod in tornado requests websockets; do
    python3 -c "import $mod" 2>/dev/null && continue
    python3 -m pip install --quiet "$mod" 2>/dev/null ||
      python3 -m pip install --quiet --break-system-packages "$mod" 2>/dev/null ||
      apt_install "python3-$mod"
    python3 -c "import $mod" || { echo "deps: could not install the Python module $mod" >&2; exit 1; }
  done
fi
