#!/usr/bin/env bash
# Admission config changes reach every ingress worker within a second.  A private
# devbroker + Postgres (lib.sh) and two sluice-ingress workers in one group.  Two sets
# of six sources, chosen so that each set has a source on every partition of
# sluice.events.in (so on both workers): cfg-a-* (limits) and cfg-p-* (pauses), all
# at 1000 per 10 s at first.
#   1. 20 events per source: all accepted.
#   2. `sources set cfg-a-* --limit 5` and `pause source cfg-p-*`, then 1 s later 50
#      events per source: for every cfg-a source and window, at most 5 of them are
#      accepted (the rest window_full), and every cfg-p event is paused
#      (manually_paused); both workers' sluice_ingress_paused_sources gauge shows 6.
#   3. `resume source cfg-p-*`, 1 s later 20 events per cfg-p source: all accepted.
. "$(dirname "$0")/lib.sh"

INGRESS_ARGS=(-X kafka.session.timeout.ms=6000 -X kafka.heartbeat.interval.ms=1000
              -X admission.mirror.ms=300 -X ingress.batch.ms=50)
WINDOW_MS=10000

# Six names per prefix, one per partition (Kafka's murmur2, written independently).
pick_sources() {
        "$PY" - "$1" <<'PY'
import sys
def murmur2(data):
    m, r, h = 0x5BD1E995, 24, (0x9747B28C ^ len(data)) & 0xFFFFFFFF
    n4 = len(data) // 4
    for i in range(n4):
        k = int.from_bytes(data[4 * i:4 * i + 4], "little")
        k = (k * m) & 0xFFFFFFFF; k ^= k >> r; k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF; h ^= k
    rest = data[4 * n4:]
    if len(rest) >= 3: h ^= rest[2] << 16
    if len(rest) >= 2: h ^= rest[1] << 8
    if len(rest) >= 1:
        h ^= rest[0]; h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13; h = (h * m) & 0xFFFFFFFF; h ^= h >> 15
    return h
seen = {}
i = 0
while len(seen) < 6:
    s = "%s-%d" % (sys.argv[1], i)
    seen.setdefault((murmur2(s.encode()) & 0x7FFFFFFF) % 6, s)
    i += 1
print(" ".join(seen[p] for p in sorted(seen)))
PY
}

# gen N TAG SOURCES...: N events per source, interleaved; ids appended to $T/TAG.ids.
gen() {
        "$PY" - "$@" <<'PY'
import json, sys, time, uuid
n, tag, sources = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
now = int(time.time() * 1000)
for i in range(n):
    for s in sources:
        print(json.dumps({"id": str(uuid.uuid4()), "type": "admission.test", "source": s,
                          "occurred_at": now, "payload": {"tag": tag, "n": i}},
                         separators=(",", ":")))
PY
}

# publish TAG N SOURCES...: publish and wait until every event has its row.
publish() {
        local tag=$1 n=$2
        shift 2
        gen "$n" "$tag" "$@" >"$T/$tag.jsonl"
        "$PY" -c 'import json,sys
for l in sys.stdin: print(json.loads(l)["id"])' <"$T/$tag.jsonl" >"$T/$tag.ids"
        "$SLUICECTL" publish --count-only "$T/$tag.jsonl" >>"$T/pub.log" 2>&1 ||
                fail "publish $tag: $(tail -n 3 "$T/pub.log")"
        local total
        total=$(cat "$T"/*.ids | wc -l)
        wait_until "[ \$(psql_val 'select count(*) from workflow_events') -ge $total ]" 20 ||
                fail "$tag: $(psql_val 'select count(*) from workflow_events') of $total events written"
}

# decisions TAG [SOURCE LIKE pattern]: "status:reason=count,..." of TAG's events.
decisions() {
        psql_run <<SQL
create temp table ids (id uuid primary key);
\copy ids from '$T/$1.ids'
select string_agg(k, ',' order by k) from (
  select status || ':' || coalesce(reason, '') || '=' || count(*) as k
  from workflow_events join ids using (id) where source like '${2:-%}' group by status, reason) x;
SQL
}

start_devbroker
start_pg
read -r -a A <<<"$(pick_sources cfg-a)"
read -r -a P <<<"$(pick_sources cfg-p)"
log "limit sources: ${A[*]}; pause sources: ${P[*]}"
for s in "${A[@]}" "${P[@]}"; do
        "$SLUICECTL" sources set "$s" --limit 1000 --window-ms $WINDOW_MS >>"$T/ctl.log" 2>&1 ||
                fail "sources set $s: $(tail -n 2 "$T/ctl.log")"
done

start_ingress "${INGRESS_ARGS[@]}"
W1_PORT=$INGRESS_PORT
start_ingress "${INGRESS_ARGS[@]}"
W2_PORT=$INGRESS_PORT
wait_until "[ \$(grep -l 'admission state of partition' '$T'/ingress.1.log '$T'/ingress.2.log | wc -l) = 2 ]" 30 ||
        fail "the two workers did not both get partitions"

# 1. Everything goes through.
publish one 20 "${A[@]}" "${P[@]}"
assert_eq "phase 1 decisions" "accepted:=240" "$(decisions one)"
wait_until "[ \$(psql_val \"select count(distinct worker) from scheduler_state where key like 'cfg-%'\") = 2 ]" 5 ||
        fail "scheduler_state: the sources are not spread over both workers"
log "ok: the sources are decided on both workers"

# 2. Lower the limits and pause; one second later, publish.
for s in "${A[@]}"; do
        "$SLUICECTL" sources set "$s" --limit 5 --window-ms $WINDOW_MS >>"$T/ctl.log" 2>&1 ||
                fail "sources set $s: $(tail -n 2 "$T/ctl.log")"
done
for s in "${P[@]}"; do
        "$SLUICECTL" pause source "$s" --reason "config test" --by test >>"$T/ctl.log" 2>&1 ||
                fail "pause source $s: $(tail -n 2 "$T/ctl.log")"
done
sleep 1
publish two 50 "${A[@]}" "${P[@]}"
psql_run >"$T/two.out" <<SQL
create temp table ids (id uuid primary key);
\copy ids from '$T/two.ids'
with w as (
  select source, (round(extract(epoch from decided_at) * 1000))::bigint / $WINDOW_MS as win,
         count(*) filter (where status = 'accepted') as accepted
  from workflow_events join ids using (id) where source like 'cfg-a-%' group by 1, 2)
select 'over', count(*) filter (where accepted > 5), 'max', coalesce(max(accepted), 0) from w;
SQL
val() { awk -F'|' -v k="$1" '{ for (i = 1; i < NF; i += 2) if ($i == k) print $(i + 1) }' "$T/two.out"; }
assert_eq "cfg-a windows with more than 5 of the new events accepted" 0 "$(val over)"
held=$(psql_val "select count(*) from workflow_events where source like 'cfg-a-%' and status = 'throttled' and reason = 'window_full'")
[ "$held" -ge $((6 * 45)) ] || fail "only $held cfg-a events throttled after the limit was lowered to 5 (want >= 270)"
log "ok: after the limit went from 1000 to 5: at most $(val max) accepted per source and window, $held throttled"
assert_eq "phase 2 decisions of the paused sources" "paused:manually_paused=300" "$(decisions two 'cfg-p-%')"
for port in "$W1_PORT" "$W2_PORT"; do
        wait_until "[ \"\$(curl -sf http://127.0.0.1:$port/metrics | awk '/^sluice_ingress_paused_sources/ { print \$NF + 0 }')\" = 6 ]" 5 ||
                fail "worker :$port sluice_ingress_paused_sources is not 6: $(curl -sf "http://127.0.0.1:$port/metrics" | grep '^sluice_ingress_paused_sources')"
done
log "ok: both workers' sluice_ingress_paused_sources = 6"

# 3. Resume; one second later the paused sources are admitted again.
for s in "${P[@]}"; do
        "$SLUICECTL" resume source "$s" --by test >>"$T/ctl.log" 2>&1 ||
                fail "resume source $s: $(tail -n 2 "$T/ctl.log")"
done
sleep 1
publish three 20 "${P[@]}"
assert_eq "phase 3 decisions after resume" "accepted:=120" "$(decisions three)"

log "PASS"
