#!/usr/bin/env bash
# One-time (and idempotent) set-up: virtual environment from the committed lock, Redis server
# (and with --browser: Chromium + CJK fonts for the widget's browser tests).
# Re-runs the pip step only when requirements/ changed since the last successful install.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
"$PYTHON" - <<'PY' || { echo "Python 3.11 is required" >&2; exit 1; }
import sys
sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)
PY

VENV=.venv
STAMP="$VENV/.requirements.sha256"
want=$(cat requirements/*.txt | sha256sum | cut -d' ' -f1)
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
  echo "==> installing Python dependencies from requirements/lock.txt"
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check --upgrade pip==24.3.1
  # The lock is the complete resolved set: install it as-is, without the resolver.
  "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps -r requirements/lock.txt
  # Rasa 3.6 declares Python <3.11 but runs on 3.11 with the pins above.
  "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps --ignore-requires-python -r requirements/rasa.txt
  echo "$want" > "$STAMP"
fi

# With --browser (the tests): the deployment files' schema checkers in their own venv (their
# jsonschema is newer than Rasa's pin), from requirements/deploy-tools.txt (tests/deploy/).
if [ "${1:-}" = "--browser" ]; then
  TOOLS=.venv-deploy-tools
  tools_want=$(sha256sum requirements/deploy-tools.txt | cut -d' ' -f1)
  if [ ! -x "$TOOLS/bin/kubernetes-validate" ] || [ "$(cat "$TOOLS/.requirements.sha256" 2>/dev/null)" != "$tools_want" ]; then
    echo "==> installing the deployment checkers into $TOOLS"
    [ -x "$TOOLS/bin/python" ] || "$PYTHON" -m venv "$TOOLS"
    "$TOOLS/bin/pip" install -q --disable-pip-version-check --no-deps -r requirements/deploy-tools.txt
    echo "$tools_want" > "$TOOLS/.requirements.sha256"
  fi
fi

# With --browser (the tests): schemathesis's `st` CLI (tests/security/test_openapi_fuzz.py) in its own
# venv from requirements/schemathesis.txt (its pytest 9 and rich are not in the Rasa venv's lock).
if [ "${1:-}" = "--browser" ]; then
  ST=.venv-schemathesis
  st_want=$(sha256sum requirements/schemathesis.txt | cut -d' ' -f1)
  if [ ! -x "$ST/bin/st" ] || [ "$(cat "$ST/.requirements.sha256" 2>/dev/null)" != "$st_want" ]; then
    echo "==> installing schemathesis into $ST"
    [ -x "$ST/bin/python" ] || "$PYTHON" -m venv "$ST"
    "$ST/bin/pip" install -q --disable-pip-version-check --no-deps -r requirements/schemathesis.txt
    echo "$st_want" > "$ST/.requirements.sha256"
  fi
fi

# Debian packages: a real Redis server and CJK fonts (the dashboard's charts measure their Chinese
# labels with Noto Sans CJK, bot/analytics/charts.py); with --browser (the tests) also Chromium,
# which the web widget's browser tests drive through Playwright (nothing is downloaded by it).
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
# nginx: the load balancer in front of the replicas of `make cluster` and its tests (deploy/nginx/)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
[ -d /usr/share/fonts/opentype/noto ] && ls /usr/share/fonts/opentype/noto/NotoSansCJK* >/dev/null 2>&1 || missing+=(fonts-noto-cjk)
if [ "${1:-}" = "--browser" ]; then
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  # docker-compose (v1) validates docker-compose.yml without a daemon (`config -q`); kubectl renders
  # deploy/k8s (`kubectl kustomize`; the machine image ships one, else Debian's kubernetes-client).
  command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
  command -v kubectl >/dev/null 2>&1 || missing+=(kubernetes-client)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "==> installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "==> set-up complete"
