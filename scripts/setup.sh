#!/usr/bin/env bash
# One-time set-up for ag on a fresh Debian/Ubuntu machine: the system tools the
# kit uses (Graphviz's `dot` to render drawings; Chromium for the HTML stepper's
# browser test) and the package itself with its dev extras.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v dot >/dev/null 2>&1 || need+=(graphviz)
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "setup: please install ${need[*]} with your package manager" >&2
  fi
fi

python3 -m pip install -q --disable-pip-version-check -e ".[dev,plot,data]"
