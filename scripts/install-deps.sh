#!/usr/bin/env bash
# Installs what deepcpu needs to build and test, from Debian packages only.
# Each dependency is there on purpose (see DEVELOPERS.md).
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  g++ cmake ninja-build pkg-config xz-utils \
  libfmt-dev nlohmann-json3-dev libcli11-dev libpcre2-dev libcpp-httplib-dev \
  libgtest-dev libbenchmark-dev \
  g++-aarch64-linux-gnu qemu-user \
  chromium >/dev/null
# Node.js 20 and npm come with the machine image; the npm packages of the Node tests are
# installed (locked) by tests/node/run.sh.
command -v node >/dev/null && command -v npm >/dev/null || $SUDO apt-get install -y -qq nodejs npm >/dev/null
echo "install-deps: done"
