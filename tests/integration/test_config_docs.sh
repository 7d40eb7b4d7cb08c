#!/usr/bin/env bash
# docs/configuration.md is generated: it must be exactly `sluicectl config docs`, so a
# key added to src/config/conf_table.c without regenerating the docs fails here.
# Also checks the operator-facing edges of the same table through sluicectl: --help
# points at the reference, `config show` redacts secrets, unknown keys stop the
# process with exit 2 and the key named.  Needs no broker and no Postgres.
set -euo pipefail

SRC=${SLUICE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${SLUICE_BUILD_DIR:-$SRC/build}
CTL=$BUILD/sluicectl
unset SLUICE_CONFIG
for v in $(env | sed -n 's/^\(SLUICE_[A-Z0-9_]*\)=.*/\1/p'); do
        case $v in SLUICE_SOURCE_DIR|SLUICE_BUILD_DIR) ;; *) unset "$v" ;; esac
done

fail() { echo "test_config_docs: FAIL: $*" >&2; exit 1; }
[ -x "$CTL" ] || fail "$CTL not built"

T=$(mktemp -d "${TMPDIR:-/tmp}/sluice-it-config-docs.XXXXXX")
trap 'rm -rf "$T"' EXIT

"$CTL" config docs > "$T/generated.md" || fail "sluicectl config docs exited $?"
if ! diff -u "$SRC/docs/configuration.md" "$T/generated.md" > "$T/diff"; then
        cat "$T/diff" >&2
        fail "docs/configuration.md differs from 'sluicectl config docs';" \
             "regenerate it: $CTL config docs > $SRC/docs/configuration.md"
fi

"$CTL" --help | grep -qx "Configuration keys: see docs/configuration.md or 'sluicectl config docs'" ||
        fail "--help does not point at the configuration reference"

SLUICE_PG_PASSWORD=env-pw-123 "$CTL" -X kafka.sasl.password=flag-pw-456 \
        -X ingress.batch.size=77 config show > "$T/show" || fail "config show exited $?"
grep -qx 'ingress.batch.size=77' "$T/show" || fail "config show misses -X value"
grep -qx 'pg.password=\[redacted\]' "$T/show" || fail "pg.password not redacted"
grep -qx 'kafka.sasl.password=\[redacted\]' "$T/show" || fail "kafka.sasl.password not redacted"
! grep -q -e env-pw-123 -e flag-pw-456 "$T/show" || fail "a secret reached config show"

rc=0
"$CTL" -X ingress.bogus=1 config show > /dev/null 2> "$T/err" || rc=$?
[ "$rc" = 2 ] || fail "unknown -X key: exit $rc, want 2"
grep -q 'ingress.bogus: unknown configuration key' "$T/err" || fail "error does not name the key"

rc=0
SLUICE_NOT_A_KEY=1 "$CTL" config show > /dev/null 2> "$T/err" || rc=$?
[ "$rc" = 2 ] || fail "unknown SLUICE_* variable: exit $rc, want 2"
grep -q 'SLUICE_NOT_A_KEY' "$T/err" || fail "error does not name the variable"

echo "test_config_docs: ok"
