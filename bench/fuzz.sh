#!/usr/bin/env bash
# Coverage-guided fuzzing with Jazzer: runs each fuzz target for the given time, one after the
# other, and prints per target its executions, executions per second and findings (crashes,
# hangs, out-of-memory), and where the findings were written.
#
# Usage: bench/fuzz.sh [seconds-per-target] [target...]
#   targets (default: all): image decoders request volume
#
# A finding is written next to the target's regression inputs (src/test/resources/.../
# <Class>Inputs/<method>/crash-*, timeout-*), so the normal test run replays it from then on: fix
# the bug, give the file a name saying what it holds, commit it. The corpus each run grows is kept in
# <module>/.cifuzz-corpus/ (not committed) and seeds the next run. Logs: bench/work/fuzz/.
# Per input: a hang is more than FUZZ_TIMEOUT seconds (default 1); each target also fails an
# input that allocates more than its own limit (see docs/fuzzing.md). Exits 1 on any finding.
set -euo pipefail
top=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
seconds=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(image decoders request volume)
fi
timeout_s=${FUZZ_TIMEOUT:-1}
JAVA_HOME=$("$top/bin/java-home")
export JAVA_HOME
export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow"
fixtures=${FIXTURES_DIR:-$top/../shared/fixtures}
logs=$top/bench/work/fuzz
mkdir -p "$logs"
cd "$top"

# target name -> module, test class, method
describe() {
  case $1 in
    # images: small inputs keep the fuzzer fast (the seeds are 8 to 20 KiB; larger ones are cut)
    image) echo "core dev.csierofs.erofs.ImageFuzzTest readImage -max_len=24576" ;;
    decoders) echo "core dev.csierofs.erofs.z.DecoderFuzzTest decode -max_len=65536" ;;
    request) echo "core dev.csierofs.fuse.RequestFuzzTest decode" ;;
    volume) echo "plugin dev.csierofs.volumes.VolumeSourceFuzzTest parse" ;;
    *) echo "fuzz.sh: unknown target '$1' (image, decoders, request, volume)" >&2; return 1 ;;
  esac
}

for t in "${targets[@]}"; do
  describe "$t" >/dev/null
done

modules=core
for t in "${targets[@]}"; do
  [ "$t" = volume ] && modules=core,plugin
done
echo "fuzz.sh: building the tests once"
./mvnw -B -ntp -o -q -pl "$modules" -am test-compile -Dfixtures.dir="$fixtures"

status=0
printf '%-9s %12s %9s %8s %6s %5s  %s\n' target executions exec/s crashes hangs OOMs findings
for t in "${targets[@]}"; do
  read -r module class method extra <<<"$(describe "$t")"
  log=$logs/$t.log
  inputs=$top/$module/src/test/resources/${class//.//}Inputs/$method
  mkdir -p "$inputs"
  # -am builds core for the plugin; -Dtest selects the one fuzz test, so nothing else runs
  JAZZER_FUZZ=1 ./mvnw -B -ntp -o -pl "$module" -am test -Dfixtures.dir="$fixtures" \
    -Dtest="$class#$method" -Dsurefire.failIfNoSpecifiedTests=false \
    -Djazzer.hooks=true -Djazzer.max_duration="${seconds}s" \
    -Djazzer.internal.arg.0=fuzz -Djazzer.internal.arg.1=-timeout="$timeout_s" \
    -Djazzer.internal.arg.2=-print_final_stats=1 -Djazzer.internal.arg.3="${extra:--print_pcs=0}" >"$log" 2>&1 || true
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || true)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || true)
  written=$(grep -o 'Test unit written to [^ ]*' "$log" | sed 's/^Test unit written to //' | sort -u || true)
  crashes=$(grep -c '/crash-' <<<"$written" || true)
  hangs=$(grep -c '/timeout-\|/slow-unit-' <<<"$written" || true)
  ooms=$(grep -c '/oom-' <<<"$written" || true)
  if [ -z "$execs" ]; then
    echo "fuzz.sh: $t did not run to its end; see $log" >&2
    status=1
  fi
  where=-
  if [ -n "$written" ]; then
    where=$(tr '\n' ' ' <<<"$written")
    status=1
  fi
  printf '%-9s %12s %9s %8s %6s %5s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "$crashes" "$hangs" "$ooms" "$where"
done
exit $status
