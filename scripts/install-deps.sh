#!/usr/bin/env bash
# Install the Debian 12 packages sluice needs to build, test and run.
#
# clang and libclang-rt-14-dev (compiler-rt: libFuzzer and the clang sanitizer
# runtimes) build the fuzz target (SLUICE_FUZZ, scripts/test.sh's fuzz step);
# clang-format is scripts/format.sh's formatter.  libzstd-dev and libssl-dev (libcrypto:
# SHA-256) write and check the history archive files (src/history, docs/history.md).  prometheus brings promtool (the alert
# rules' checks and unit tests, docs/operations/) and the server the operations kit's
# integration test scrapes the processes with; the test runs its own server on a free
# port, so the packaged service (started by systemd where there is one) is not needed.
# chromium is the headless browser test_admin_page loads sluice-admin's status page in
# (driven over the DevTools protocol by the test's own WebSocket client: no PyPI package).
#
# Idempotent: checks each package with dpkg-query first and touches apt only when
# something is missing (apt-get update, then one apt-get install).  Runs as root, or
# through sudo otherwise.  Silent when everything is already present.  kcat is
# optional: a failure to install it is reported and ignored.
#
# Then the Python tools the tests run that Debian does not package: schemathesis
# (test_admin_openapi checks sluice-admin against docs/admin-api.yaml with it), from
# PyPI into the venv .sluice/venv, pinned; skipped when already there.
set -euo pipefail

required=(build-essential cmake pkg-config librdkafka-dev libavro-dev libjansson-dev
          libpq-dev libcmocka-dev libcivetweb-dev uuid-dev libzstd-dev libssl-dev postgresql
          python3-confluent-kafka python3-avro curl clang libclang-rt-14-dev clang-format
          openjdk-17-jre-headless maven prometheus chromium pgbackrest)
optional=(kcat)

installed() {
        dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

missing=()
for p in "${required[@]}"; do installed "$p" || missing+=("$p"); done
missing_opt=()
for p in "${optional[@]}"; do installed "$p" || missing_opt+=("$p"); done

SCHEMATHESIS_VERSION=4.32.5
VENV=$(cd "$(dirname "$0")/.." && pwd)/.sluice/venv

# The venv with schemathesis (PyPI), whatever apt had to do.
python_tools() {
        [ -x "$VENV/bin/schemathesis" ] &&
                "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION" && return 0
        echo "install-deps: schemathesis $SCHEMATHESIS_VERSION into $VENV (PyPI)" >&2
        mkdir -p "$(dirname "$VENV")"
        python3 -m venv "$VENV" 2>/dev/null || /usr/bin/python3 -m venv "$VENV" || {
                echo "install-deps: no Python venv module (apt-get install python3-venv)" >&2
                return 1
        }
        "$VENV/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION"
}

if [ ${#missing[@]} -eq 0 ] && [ ${#missing_opt[@]} -eq 0 ]; then
        python_tools
        exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
        SUDO=()
elif command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
else
        echo "install-deps: missing packages (${missing[*]} ${missing_opt[*]}) and not root, no sudo" >&2
        exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-deps: installing ${missing[*]} ${missing_opt[*]}" >&2
"${SUDO[@]}" apt-get update -qq
if [ ${#missing[@]} -gt 0 ]; then
        "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if [ ${#missing_opt[@]} -gt 0 ]; then
        "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing_opt[@]}" ||
                echo "install-deps: optional ${missing_opt[*]} not installed (not needed)" >&2
fi
python_tools
