#!/usr/bin/env bash
# test_alert_rules: the alert rules of docs/operations/ are valid (promtool check
# rules), so is the example scrape config that loads them (promtool check config),
# their unit tests pass (promtool test rules alerts.test.yml), and every alert
# has a unit test that expects it to fire (a non-empty exp_alerts under its name), so
# an alert added without a test fails here.  promtool: Debian's prometheus package
# (scripts/install-deps.sh).  Whether the metric names the rules use are really exposed
# is test_operations_kit's business (tests/integration/).
set -euo pipefail

SRC=${SLUICE_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
OPS=$SRC/docs/operations
fail() { echo "test_alert_rules: FAIL: $*" >&2; exit 1; }

command -v promtool >/dev/null || fail "promtool not found (scripts/install-deps.sh installs Debian's prometheus package)"
promtool check rules "$OPS/alerts.yml" || fail "promtool check rules"
# The example scrape config loads the same rules (and names the jobs they expect).
promtool check config "$OPS/prometheus.example.yml" || fail "promtool check config"
# promtool resolves rule_files against the test file's folder.
promtool test rules "$OPS/alerts.test.yml" || fail "promtool test rules"

# Every alert of alerts.yml is named in a test step whose exp_alerts lists at least one
# alert (the line after `exp_alerts:` starts a list item).
alerts=$(sed -n 's/^ *- alert: *\([A-Za-z0-9_]*\) *$/\1/p' "$OPS/alerts.yml" | sort -u)
[ -n "$alerts" ] || fail "no alert found in alerts.yml"
fired=$(awk '/^ *alertname:/ { name = $2 }
             /^ *exp_alerts: *$/ { want = 1; next }
             want && /^ *- exp_labels:/ { print name }
             { want = 0 }' "$OPS/alerts.test.yml" | sort -u)
missing=$(comm -23 <(echo "$alerts") <(echo "$fired"))
[ -z "$missing" ] || fail "alerts with no test expecting them to fire: $(echo $missing)"
echo "test_alert_rules: $(echo "$alerts" | wc -l) alerts checked, each tested firing"
