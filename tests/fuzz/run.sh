#!/usr/bin/env bash
# Builds the libFuzzer targets (build-fuzz/: clang, -DRPCLOAD_FUZZ=ON) and
# runs each for a bounded time from its checked-in seeds (tests/fuzz/TARGET/,
# never written to; new inputs go to build-fuzz/fuzz-corpus/TARGET/), as
# many at once as there are CPUs. Fails when a target crashes, leaks, hangs
# (-timeout) or runs out of memory; the input that did it is saved under
# build-fuzz/fuzz-crashes/TARGET/ and printed (base64) with the command that
# replays it.
#
#   tests/fuzz/run.sh                    # every target, RL_FUZZ_SECONDS each (6)
#   RL_FUZZ_SECONDS=60 tests/fuzz/run.sh url scenario
#   tests/fuzz/run.sh --build-only       # configure and build, run nothing
#
# scripts/test.sh runs it as one step; docs/reliability.md, "Fuzzing".
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
SECS=${RL_FUZZ_SECONDS:-6}
BUILD=${RL_FUZZ_BUILD_DIR:-build-fuzz}
JOBS=$(nproc)

command -v clang >/dev/null || { echo "fuzz: clang is missing (scripts/setup.sh installs it)" >&2; exit 1; }
cmake -S . -B "$BUILD" -DCMAKE_C_COMPILER=clang -DRPCLOAD_FUZZ=ON >/dev/null
cmake --build "$BUILD" --target fuzz -j"$JOBS" >"$BUILD/fuzz-build.log" 2>&1 ||
  { tail -40 "$BUILD/fuzz-build.log" >&2; echo "fuzz: the build failed" >&2; exit 1; }

# scripts/test.sh builds early, beside the test suites, and runs later.
if [[ ${1:-} == --build-only ]]; then
  built=("$BUILD"/fuzz/fuzz_*)
  echo "fuzz: built ${#built[@]} targets in $BUILD/fuzz/"
  exit 0
fi

targets=("$@")
if ((${#targets[@]} == 0)); then
  for bin in "$BUILD"/fuzz/fuzz_*; do
    targets+=("${bin##*/fuzz_}")
  done
fi

mkdir -p "$BUILD/fuzz-logs"
# run_one TARGET: one bounded run; its summary line on stdout.
run_one() {
  local t=$1 bin="$BUILD/fuzz/fuzz_$1" seeds="tests/fuzz/$1"
  local work="$BUILD/fuzz-corpus/$t" crashes="$BUILD/fuzz-crashes/$t"
  local log="$BUILD/fuzz-logs/$t.log"
  [[ -x $bin && -d $seeds ]] || { echo "fuzz: $t: no such target (or no seeds in $seeds)"; return 1; }
  rm -rf "$work" "$crashes"
  mkdir -p "$work" "$crashes"
  local dict=()
  [[ -f tests/fuzz/$t.dict ]] && dict=(-dict="tests/fuzz/$t.dict")
  local rc=0
  "$bin" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 "${dict[@]}" -artifact_prefix="$crashes/" \
    "$work" "$seeds" >"$log" 2>&1 || rc=$?
  local done_line execs
  done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 || true)
  execs=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  if ((rc == 0)); then
    printf 'fuzz: %-15s ok  %s execs/s, %s\n' "$t" "${execs:-?}" \
      "$(sed -E 's/.*(cov: [0-9]+ ft: [0-9]+ corp: [^ ]+).*/\1/' <<<"$done_line")"
    return 0
  fi
  printf 'fuzz: %-15s FAILED (exit %d); its log (%s) ends:\n' "$t" "$rc" "$log"
  grep -vE '^(#[0-9]+|INFO:|MERGE|\s+NEW_FUNC)' "$log" | tail -40
  for f in "$crashes"/*; do
    [[ -f $f ]] || continue
    printf 'fuzz: %s: input that failed: %s (%d bytes), base64:\n' "$t" "$f" "$(stat -c %s "$f")"
    head -c 4096 "$f" | base64
    printf 'fuzz: replay it with: %s %s\n' "$bin" "$f"
  done
  return 1
}

failed=()
running=0
declare -A pid_of
for t in "${targets[@]}"; do
  if ((running >= JOBS)); then
    wait -n || true
    running=$((running - 1))
  fi
  run_one "$t" >"$BUILD/fuzz-logs/$t.summary" 2>&1 &
  pid_of[$t]=$!
  running=$((running + 1))
done
for t in "${targets[@]}"; do
  wait "${pid_of[$t]}" || failed+=("$t")
  cat "$BUILD/fuzz-logs/$t.summary"
done
if ((${#failed[@]})); then
  echo "fuzz: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} targets ran ${SECS} s each, no failure"
