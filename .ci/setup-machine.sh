#!/usr/bin/env bash
# Makes a fresh Debian 12 machine ready for kvopt's tests; idempotent, seconds when everything is there.
#  - Redis on 127.0.0.1:6379 (the BullMQ queue tests); started if it does not answer;
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

# Redis
if ! command -v redis-server >/dev/null; then apt_install redis-server redis-tools; fi
if ! redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; then
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no >/dev/null
  for _ in $(seq 50); do redis-cli -h 127.0.0.1 ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
fi

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
