#!/usr/bin/env bash
# Run every sluice test (README command 2; CI runs exactly this).
#
#   1. scripts/install-deps.sh, then scripts/format.sh --check (clang-format)
#   2. java: Apache Kafka's jars (scripts/kafka.sh fetch) and examples/java (mvn)
#   3. build/: -DSLUICE_WERROR=ON, build everything, ctest (unit + integration; the
#      integration tests share RESOURCE_LOCK stack, so they run one at a time; the
#      three labelled devbroker-dup run on Apache Kafka only, and those labelled
#      replay on the ASan build only (step 4), tests/CMakeLists.txt)
#   4. build/asan/: AddressSanitizer + UndefinedBehaviorSanitizer build, unit tests again
#      (but test_runtime_txn, 26 s of mock-cluster transactions, for the time budget),
#      then the integration tests labelled "replay" (crash, restart, rebalance and replay
#      paths; the list is in tests/CMakeLists.txt) with every process sanitized: a
#      sanitizer report in any process's log fails the test (tests/integration/lib.sh)
#   5. build/fuzz/: clang, SLUICE_FUZZ=ON: the libFuzzer targets of tests/fuzz, each run
#      for 6 s on its seed corpus (tests/fuzz/corpus/<name>/; ctest -L fuzz)
#   6. build/tsan/: ThreadSanitizer build of the threaded parts that start no librdkafka
#      client (TSan crashes once librdkafka resolves a broker address): the unit tests
#      labelled tsan (HTTP server threads, the COPY writer threads against a private
#      Postgres, the offset floors)
#
# Exits non-zero when any step fails; the last line is a one-line summary.
# SLUICE_TEST_SKIP_ASAN=1 skips step 4, SLUICE_TEST_SKIP_FUZZ=1 step 5,
# SLUICE_TEST_SKIP_TSAN=1 step 6 (for quick local
# runs, never in CI).
set -uo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
JOBS=${SLUICE_JOBS:-$(nproc 2>/dev/null || echo 2)}
t0=$(date +%s)
results=()
failed=0

step() { # step NAME CMD...
        local name=$1 s rc
        shift
        echo "==> $name" >&2
        s=$(date +%s)
        "$@"
        rc=$?
        if [ $rc -eq 0 ]; then
                results+=("$name: ok ($(( $(date +%s) - s ))s)")
        else
                results+=("$name: FAILED (exit $rc)")
                failed=1
        fi
        return $rc
}

step "install-deps" ./scripts/install-deps.sh || exit 1

# Every C file as clang-format leaves it (scripts/format.sh formats them).
step "format" ./scripts/format.sh --check

# The Java side of the fidelity tier: Apache Kafka's broker and the Java publisher
# example, from Maven Central (the local Maven cache makes later runs offline).
step "java" bash -c "./scripts/kafka.sh fetch && mvn -q -B -f examples/java/pom.xml package"

if step "build" bash -c "cmake -S '$ROOT' -B '$ROOT/build' -DSLUICE_WERROR=ON >/dev/null &&
                         cmake --build '$ROOT/build' -j$JOBS"; then
        step "ctest" ctest --test-dir "$ROOT/build" --output-on-failure -j"$JOBS" \
                -LE 'devbroker-dup|replay'
fi

if [ "${SLUICE_TEST_SKIP_ASAN:-0}" != 1 ]; then
        if step "asan-build" bash -c "cmake -S '$ROOT' -B '$ROOT/build/asan' -DSLUICE_WERROR=ON \
                                        -DSLUICE_SANITIZE=ON -DSLUICE_BENCH=OFF \
                                        -DCMAKE_BUILD_TYPE=Debug >/dev/null &&
                                      cmake --build '$ROOT/build/asan' -j$JOBS"; then
                ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
                UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
                        step "asan-unit" ctest --test-dir "$ROOT/build/asan" -L unit \
                                               -E '^unit[.]test_runtime_txn$' \
                                               --output-on-failure -j"$JOBS"
                ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
                UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
                        step "asan-replay" ctest --test-dir "$ROOT/build/asan" -L replay \
                                                 --output-on-failure
        fi
fi

if [ "${SLUICE_TEST_SKIP_FUZZ:-0}" != 1 ]; then
        if step "fuzz-build" bash -c "cmake -S '$ROOT' -B '$ROOT/build/fuzz' -DSLUICE_WERROR=ON \
                                        -DCMAKE_C_COMPILER=clang -DSLUICE_FUZZ=ON \
                                        -DSLUICE_BENCH=OFF >/dev/null &&
                                      cmake --build '$ROOT/build/fuzz' -j$JOBS \
                                        --target fuzzers"; then
                step "fuzz" ctest --test-dir "$ROOT/build/fuzz" -L fuzz --output-on-failure
        fi
fi

# The tsan tests, with a private Postgres for test_copy_pipe (stopped afterwards).
tsan_threads() {
        local port pgdir=$ROOT/build/tsan/pg rc
        port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])') || return 1
        SLUICE_PG_DIR=$pgdir SLUICE_PG_PORT=$port SLUICE_PG_FAST=1 ./scripts/pg.sh start \
                >"$ROOT/build/tsan/pg-start.log" 2>&1 || {
                echo "tsan-threads: scripts/pg.sh start failed (see build/tsan/pg-start.log)" >&2
                return 1
        }
        TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 SLUICE_TEST_PG_PORT=$port \
                ctest --test-dir "$ROOT/build/tsan" -L tsan --output-on-failure
        rc=$?
        SLUICE_PG_DIR=$pgdir ./scripts/pg.sh stop >/dev/null 2>&1
        return $rc
}

if [ "${SLUICE_TEST_SKIP_TSAN:-0}" != 1 ]; then
        if step "tsan-build" bash -c "cmake -S '$ROOT' -B '$ROOT/build/tsan' -DSLUICE_WERROR=ON \
                                        -DSLUICE_TSAN=ON -DSLUICE_BENCH=OFF \
                                        -DCMAKE_BUILD_TYPE=Debug >/dev/null &&
                                      cmake --build '$ROOT/build/tsan' -j$JOBS --target \
                                        test_http test_copy_pipe test_runtime_floors"; then
                step "tsan-threads" tsan_threads
        fi
fi

echo >&2
for r in "${results[@]}"; do echo "  $r" >&2; done
if [ $failed -eq 0 ]; then
        echo "sluice tests: ALL PASSED in $(( $(date +%s) - t0 ))s"
else
        echo "sluice tests: FAILED in $(( $(date +%s) - t0 ))s (see above)"
fi
exit $failed
