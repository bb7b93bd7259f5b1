#!/usr/bin/env bash
# One-step set-up on a fresh Debian machine with Python 3.11:
#   bash scripts/setup.sh          system data set + .venv with analognas and its pinned stack
#   bash scripts/setup.sh --test   the same, plus what the test suite needs
# Idempotent: re-running it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else SUDO="none"; fi
fi

apt_pkgs=(dataset-fashion-mnist python3-venv)
# --test: a throwaway PostgreSQL cluster (distributed search) and headless Chromium (dashboard render).
((want_test)) && apt_pkgs+=(postgresql chromium fonts-liberation)
missing=()
for p in "${apt_pkgs[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
    if [[ "$SUDO" == "none" ]]; then
        echo "setup: cannot install Debian packages (${missing[*]}) without root or sudo; install them and re-run" >&2
        exit 1
    fi
    echo "setup: installing Debian packages: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3.11}
if [[ ! -x .venv/bin/python ]]; then
    echo "setup: creating .venv with $PY"
    "$PY" -m venv .venv
fi
extras=""
((want_test)) && extras="[test]"
# torch is pinned to 2.13.0, whose CPU build pip finds without a multi-GB CUDA download;
# constraints.txt holds the exact versions the project is tested with.
.venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e ".${extras}"
echo "setup: ready (.venv/bin/analognas)"
