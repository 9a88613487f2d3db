#!/bin/bash
# CPU time of a sharded run against one machine's export of the same tree
# (issue 17: "the sum of CPU time over all tasks within 15% of a single
# machine run").  Every command of the run is timed (user + system, its
# threads included) by GNU time's format through bash's `times`-free way:
# /usr/bin/time is not installed everywhere, so each command runs in a
# subshell and the children's times are read from /proc/self/stat of that
# subshell after it waited.
#
#   scripts/bench_shard_cpu.sh [WOMEN [N]]
#
# WOMEN (default 200) women of scripts/make_archive.py (about 10 files
# each, 512x512 images); N (default 4) tasks, run one after another on
# this machine.  Each run with a new db.  SHARD_DIR (default
# /tmp/deidfs-shardcpu).  Prints Markdown.
set -euo pipefail
cd "$(dirname "$0")/.."
WOMEN=${1:-200}
N=${2:-4}
D=${SHARD_DIR:-/tmp/deidfs-shardcpu}
DEIDFS=${DEIDFS:-$PWD/build/deidfs}
mkdir -p "$D"
src=$D/w$WOMEN/identified
[ -d "$src" ] || /usr/bin/python3 scripts/make_archive.py --women "$WOMEN" \
	--rows 512 --cols 512 --seed 17 "$D/w$WOMEN" >/dev/null

cpu() {	# command...: print its user+system CPU seconds (children waited)
	bash -c '"$@" >/dev/null 2>&1 || exit 1
		read -ra s < /proc/$$/stat
		echo $(( (s[15] + s[16]) ))' _ "$@"
}
hz=$(getconf CLK_TCK)
total() { awk -v hz="$hz" '{ t += $1 } END { printf "%.2f", t / hz }'; }

one=$( { rm -rf "$D/one"*; cpu "$DEIDFS" export -q --csv "$D/w$WOMEN/variables.csv" \
	--db "$D/one.db" "$src" "$D/one.out"; } | total)
rm -rf "$D/sh"*
O=(-q --csv "$D/w$WOMEN/variables.csv" --db "$D/sh.db" "$src" "$D/sh.out")
idx=$(for i in $(seq 0 $((N - 1))); do
	cpu "$DEIDFS" export --shard "$i/$N" --index-only "${O[@]}"; done | total)
m1=$(cpu "$DEIDFS" merge "${O[@]}" | total)
exp=$(for i in $(seq 0 $((N - 1))); do
	cpu "$DEIDFS" export --shard "$i/$N" "${O[@]}"; done | total)
m2=$(cpu "$DEIDFS" merge "${O[@]}" | total)
files=$(find "$src" -type f -name '*.dcm' | wc -l)
echo "| tree | one machine CPU s | index tasks | merge | export tasks | last merge | sharded total | ratio |"
echo "| --- | --: | --: | --: | --: | --: | --: | --: |"
awk -v w="$WOMEN" -v f="$files" -v n="$N" -v o="$one" -v a="$idx" -v b="$m1" \
	-v c="$exp" -v d="$m2" 'BEGIN { t = a + b + c + d;
	printf "| %d women, %d files, N = %d | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.0f%% |\n",
		w, f, n, o, a, b, c, d, t, 100 * t / o }'
