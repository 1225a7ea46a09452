#!/usr/bin/env bash
# Installs the Debian packages the test suite runs for real, only when one is missing,
# so that a warm machine pays nothing and a fresh one (CI) gets them or fails loudly.
set -euo pipefail
declare -A need=(
  [redis-server]=redis-server
  [prometheus]=prometheus
  [promtool]=prometheus
  [chromium]=chromium
  [chromedriver]=chromium-driver
  [docker-compose]=docker-compose
  [ffprobe]=ffmpeg
  [kubectl]=kubernetes-client  # the image may already carry a newer kubectl; either has kustomize
)
missing=()
for cmd in "${!need[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${need[$cmd]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
echo "installing Debian packages: ${missing[*]}"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
