#!/usr/bin/env bash
# Debian packages kvopt's tests need on a fresh Debian 12 machine; idempotent, seconds when all are there.
# (Redis, which the queue tests need, is made sure of by .ci/run itself.)
#  - Vulkan loader + Mesa's software driver (lavapipe, Mesa 25 from bookworm-backports) so the WebGPU
#    provider of onnxruntime-node runs on a CPU-only machine (the GPU-path tests);
#  - Chromium (the report screenshot test).
set -euo pipefail
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
apt_updated=0
apt_install() { # apt_install [-t suite] pkg...
  if [ $apt_updated -eq 0 ]; then $SUDO apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Vulkan with a usable adapter (Dawn refuses bookworm's own Mesa 22; backports' Mesa 25 works)
if ! vulkaninfo --summary 2>/dev/null | grep -q 'Mesa 2[5-9]'; then
  if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    uri=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    echo "deb ${uri:-http://deb.debian.org/debian} bookworm-backports main" | $SUDO tee /etc/apt/sources.list.d/bpo.list >/dev/null
    apt_updated=0
  fi
  apt_install libvulkan1 vulkan-tools
  apt_install -t bookworm-backports mesa-vulkan-drivers
fi

# Chromium (headless screenshots of the HTML report)
if ! command -v chromium >/dev/null; then apt_install chromium; fi
