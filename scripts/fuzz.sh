#!/bin/sh
# Fuzz every parser of outside data with libFuzzer (targets in tests/fuzz/).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]   bounded run, default 300 s each
#   scripts/fuzz.sh --smoke [SECONDS]      replay regressions + a few seconds
#                                          each (run by scripts/test.sh)
#
# Builds with `make fuzz`, replays tests/fuzz/regress/<target>/* (every input
# that once crashed a target), then fuzzes each target for the given time on
# a scratch copy of its seed corpus (build/fuzz/run/<target>/), FUZZ_JOBS
# targets at a time (default 2).  Prints a Markdown table of executions and
# findings.  Exit status 1 when a regression input fails or a run finds
# anything (crash, leak, timeout, out-of-memory); the inputs are left in
# build/fuzz/run/<target>/artifacts/.
#
# Environment: FUZZ_JOBS (parallel targets), FUZZ_RUN_DIR (scratch, default
# build/fuzz/run), FUZZ_EXTRA_DICOM (more directories of DICOM seeds).
set -eu
cd "$(dirname "$0")/.."

smoke=0
if [ "${1:-}" = "--smoke" ]; then
	smoke=1
	shift
fi
secs=${1:-300}
[ "$smoke" = 1 ] && secs=${1:-5}
jobs=${FUZZ_JOBS:-2}
targets="dicom registry whitelist layout csvspec"
run=${FUZZ_RUN_DIR:-build/fuzz/run}

make -s -j"$(nproc)" fuzz

max_len() {
	case $1 in
	dicom) echo 65536 ;;
	registry) echo 16384 ;;
	whitelist) echo 8192 ;;
	layout) echo 2048 ;;
	*) echo 1024 ;;
	esac
}

# Seeds: the committed corpus, the regression inputs, and for DICOM the
# sample files of tests/data (referenced, not copied into tests/fuzz).
seed() {
	t=$1 dir=$2
	rm -rf "$dir"
	mkdir -p "$dir/corpus" "$dir/artifacts"
	for f in tests/fuzz/corpus/"$t"/* tests/fuzz/regress/"$t"/*; do
		[ -f "$f" ] && cp "$f" "$dir/corpus/"
	done
	if [ "$t" = dicom ]; then
		for f in tests/data/*.dcm tests/data/broken/* \
			tests/data/dicomdir/DICOMDIR; do
			[ -f "$f" ] && cp "$f" "$dir/corpus/$(basename "$f")"
		done
		for d in ${FUZZ_EXTRA_DICOM:-}; do
			find "$d" -type f -size -4M -exec cp -t "$dir/corpus/" {} +
		done
	fi
	return 0
}

# 1. Replay: every input that ever crashed a target must pass now.
fail=0
mkdir -p "$run"
for t in $targets; do
	set -- tests/fuzz/regress/"$t"/*
	[ -f "$1" ] || continue
	if ! build/fuzz/fuzz_"$t" -timeout=10 -rss_limit_mb=2048 "$@" \
		>"$run/replay.$t.log" 2>&1; then
		echo "fuzz: $t: a regression input fails; see $run/replay.$t.log" >&2
		fail=1
	fi
done

# 2. Fuzz, $jobs targets at a time.
fuzz_one() {
	t=$1 dir=$run/$1
	seed "$t" "$dir"
	extra=""
	[ "$smoke" = 1 ] && extra="-seed=1"
	# The outer timeout only guards against a hung libFuzzer itself.
	timeout $((secs + 300)) build/fuzz/fuzz_"$t" $extra \
		-max_total_time="$secs" -max_len="$(max_len "$t")" \
		-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$dir/artifacts/" "$dir/corpus" \
		>"$dir/log" 2>&1 || echo $? >"$dir/status"
}

n=0
for t in $targets; do
	fuzz_one "$t" &
	n=$((n + 1))
	if [ "$n" -ge "$jobs" ]; then
		wait
		n=0
	fi
done
wait

# 3. Report.
echo
echo "| target | seconds | executions | exec/s | corpus (files, bytes) | findings |"
echo "| --- | ---: | ---: | ---: | --- | --- |"
for t in $targets; do
	dir=$run/$t
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" |
		tail -n 1)
	execs=${execs:-0}
	files=$(find "$dir/corpus" -type f | wc -l)
	bytes=$(find "$dir/corpus" -type f -exec cat {} + | wc -c)
	found=$(find "$dir/artifacts" -type f | wc -l)
	what=none
	if [ "$found" -gt 0 ] || [ -f "$dir/status" ]; then
		what="$found: $(find "$dir/artifacts" -type f -printf '%f ' |
			sed 's/-[0-9a-f]*//g')(log: $dir/log)"
		fail=1
	fi
	echo "| fuzz_$t | $secs | $execs | $((execs / secs)) | $files, $bytes | $what |"
done
echo
echo "clang $(clang --version | sed -n '1s/.*version \([^ ]*\).*/\1/p'), $(nproc) CPUs, $(date -u +%Y-%m-%d)"
exit "$fail"
