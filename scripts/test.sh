#!/usr/bin/env bash
# Run every sluice test (README command 2; CI runs exactly this).
#
#   1. scripts/install-deps.sh
#   2. java: Apache Kafka's jars (scripts/kafka.sh fetch) and examples/java (mvn)
#   3. build/: -DSLUICE_WERROR=ON, build everything, ctest (unit + integration; the
#      integration tests share RESOURCE_LOCK stack, so they run one at a time)
#   4. build/asan/: AddressSanitizer + UndefinedBehaviorSanitizer build, unit tests again,
#      then the integration tests labelled "replay" (crash, restart, rebalance and replay
#      paths; the list is in tests/CMakeLists.txt) with every process sanitized: a
#      sanitizer report in any process's log fails the test (tests/integration/lib.sh)
#   5. build/fuzz/: clang, SLUICE_FUZZ=ON: the libFuzzer targets of tests/fuzz, each run
#      for 30 s on its seed corpus (tests/fuzz/corpus/<name>/; ctest -L fuzz)
#
# Exits non-zero when any step fails; the last line is a one-line summary.
# SLUICE_TEST_SKIP_ASAN=1 skips step 4, SLUICE_TEST_SKIP_FUZZ=1 step 5 (for quick local
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

# The Java side of the fidelity tier: Apache Kafka's broker and the Java publisher
# example, from Maven Central (the local Maven cache makes later runs offline).
step "java" bash -c "./scripts/kafka.sh fetch && mvn -q -B -f examples/java/pom.xml package"

if step "build" bash -c "cmake -S '$ROOT' -B '$ROOT/build' -DSLUICE_WERROR=ON >/dev/null &&
                         cmake --build '$ROOT/build' -j$JOBS"; then
        step "ctest" ctest --test-dir "$ROOT/build" --output-on-failure -j"$JOBS"
fi

if [ "${SLUICE_TEST_SKIP_ASAN:-0}" != 1 ]; then
        if step "asan-build" bash -c "cmake -S '$ROOT' -B '$ROOT/build/asan' -DSLUICE_WERROR=ON \
                                        -DSLUICE_SANITIZE=ON -DSLUICE_BENCH=OFF \
                                        -DCMAKE_BUILD_TYPE=Debug >/dev/null &&
                                      cmake --build '$ROOT/build/asan' -j$JOBS"; then
                ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
                UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
                        step "asan-unit" ctest --test-dir "$ROOT/build/asan" -L unit \
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

echo >&2
for r in "${results[@]}"; do echo "  $r" >&2; done
if [ $failed -eq 0 ]; then
        echo "sluice tests: ALL PASSED in $(( $(date +%s) - t0 ))s"
else
        echo "sluice tests: FAILED in $(( $(date +%s) - t0 ))s (see above)"
fi
exit $failed
