#!/usr/bin/env bash
# Provision the real gateways the integration tests put in front of the mock: nginx (apt) and
# LiteLLM proxy (pinned, in its own venv so its dependency pins never touch .venv).
# Idempotent: a second run only checks and returns. Every network step is bounded by a timeout.
# Prints one line on failure and exits non-zero. `--check` only looks (no network, no install):
# what the test fixture runs, relaying its line.
set -euo pipefail
cd "$(dirname "$0")/.."

LITELLM_VERSION="1.108.0"   # newest release whose extras the index has (see design references)
GATEWAYS_VENV="${TOKENSTORM_GATEWAYS_VENV:-.venv-gateways}"
LOG="${TMPDIR:-/tmp}/tokenstorm-gateways-provision.log"

fail() { echo "gateways.sh: $1 (details: $LOG)" >&2; exit 1; }

nginx_ok() { command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; }
litellm_ok() {
    [ -x "$GATEWAYS_VENV/bin/litellm" ] &&
        "$GATEWAYS_VENV/bin/python" -c \
            "import importlib.metadata as m, sys; sys.exit(m.version('litellm') != '$LITELLM_VERSION')" \
            >/dev/null 2>&1
}

if [ "${1:-}" = "--check" ]; then
    nginx_ok || { echo "gateways.sh: nginx is not installed: run bash .ci/gateways.sh" >&2; exit 1; }
    litellm_ok || { echo "gateways.sh: litellm $LITELLM_VERSION is not in $GATEWAYS_VENV: run bash .ci/gateways.sh" >&2; exit 1; }
    echo "gateways.sh: nginx and litellm $LITELLM_VERSION ready"
    exit 0
fi

# One provisioning at a time (two shells, or CI and a developer, may race).
exec 9>"${TMPDIR:-/tmp}/tokenstorm-gateways.lock"
command -v flock >/dev/null 2>&1 && { flock -w 1500 9 || fail "another provisioning held the lock for 25 min"; }
: >"$LOG"
if ! nginx_ok; then
    command -v apt-get >/dev/null 2>&1 || fail "nginx missing and no apt-get to install it"
    export DEBIAN_FRONTEND=noninteractive
    # The package lists may be stale or absent on a fresh machine: refresh once, then install.
    timeout 300 apt-get update -q >>"$LOG" 2>&1 || fail "apt-get update failed"
    timeout 300 apt-get install -y -q --no-install-recommends nginx-light >>"$LOG" 2>&1 \
        || fail "apt-get install nginx-light failed"
    nginx_ok || fail "nginx-light installed but no nginx binary found"
fi

if ! litellm_ok; then
    if [ ! -x "$GATEWAYS_VENV/bin/python" ]; then
        timeout 120 python3 -m venv "$GATEWAYS_VENV" >>"$LOG" 2>&1 \
            || fail "python3 -m venv $GATEWAYS_VENV failed"
    fi
    timeout 900 "$GATEWAYS_VENV/bin/pip" install -q --disable-pip-version-check \
        "litellm[proxy]==$LITELLM_VERSION" >>"$LOG" 2>&1 \
        || fail "pip install litellm[proxy]==$LITELLM_VERSION into $GATEWAYS_VENV failed"
    litellm_ok || fail "litellm $LITELLM_VERSION not importable from $GATEWAYS_VENV after install"
fi
echo "gateways.sh: nginx and litellm $LITELLM_VERSION ready"
