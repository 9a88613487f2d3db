#!/bin/bash
# CPU time of a sharded run against one machine's export of the same tree
# (issue 17: "the sum of CPU time over all tasks within 15% of a single
# machine run").  Every command is timed by GNU time (user + system, its
# threads and the processes it waited for included).
#
#   scripts/bench_shard_cpu.sh [WOMEN [N [ROUNDS]]]
#
# WOMEN (default 200) women of scripts/make_archive.py (about 8 files
# each, 512x512 images; ROWS=256 for smaller ones); N (default 4) tasks,
# run one after another on this machine; ROUNDS (default 3) rounds, each
# with new dbs and destinations, the binaries alternating within a round
# (DEIDFS, and REF if set: the reference, measured side by side).  Prints
# Markdown: per binary and phase, the median of the rounds.  SHARD_DIR
# (default /tmp/deidfs-shardcpu) holds everything.  Both runs of a round
# start from one empty project db (one key), and their trees are compared.
set -euo pipefail
cd "$(dirname "$0")/.."
WOMEN=${1:-200}
N=${2:-4}
ROUNDS=${3:-3}
ROWS=${ROWS:-512}
D=${SHARD_DIR:-/tmp/deidfs-shardcpu}
DEIDFS=${DEIDFS:-$PWD/build/deidfs}
mkdir -p "$D"
tree=$D/w$WOMEN-$ROWS
src=$tree/identified
[ -d "$src" ] || /usr/bin/python3 scripts/make_archive.py --women "$WOMEN" \
	--rows "$ROWS" --cols "$ROWS" --seed 17 "$tree" >/dev/null
files=$(find "$src" -type f -name '*.dcm' | wc -l)

cpu() {	# command...: its user + system CPU seconds
	/usr/bin/time -f '%U %S' -o "$D/time" "$@" >/dev/null 2>&1
	awk '{ printf "%.2f\n", $1 + $2 }' "$D/time"
}
sum() { awk '{ t += $1 } END { printf "%.2f", t }'; }

# one round of binary $1: "one index merge export final"
round() {
	local b=$1 one idx m1 exp m2 i
	rm -rf "$D"/one* "$D"/sh*
	# one key for both (an empty project db, copied): the same bytes
	cp "$D/key.db" "$D/one.db"
	cp "$D/key.db" "$D/sh.db"
	sync
	one=$(cpu "$b" export -q --csv "$tree/variables.csv" --db "$D/one.db" \
		"$src" "$D/one.out")
	O=(-q --csv "$tree/variables.csv" --db "$D/sh.db" "$src" "$D/sh.out")
	idx=$(for i in $(seq 0 $((N - 1))); do
		cpu "$b" export --shard "$i/$N" --index-only "${O[@]}"; done | sum)
	m1=$(cpu "$b" merge "${O[@]}")
	exp=$(for i in $(seq 0 $((N - 1))); do
		cpu "$b" export --shard "$i/$N" "${O[@]}"; done | sum)
	m2=$(cpu "$b" merge "${O[@]}")
	cmp -s <(cd "$D/one.out" && find . -type f -exec md5sum {} + | sort) \
		<(cd "$D/sh.out" && find . -type f -exec md5sum {} + | sort) ||
		{ echo "bench_shard_cpu: the trees differ" >&2; exit 1; }
	echo "$one $idx $m1 $exp $m2"
}

mkdir -p "$D/empty"
rm -rf "$D/key.db"*
"$DEIDFS" export -q --db "$D/key.db" "$D/empty" "$D/empty.out"
bins=(${REF:+"$REF"} "$DEIDFS")
for r in $(seq 1 "$ROUNDS"); do
	for k in "${!bins[@]}"; do
		line=$(round "${bins[$k]}") || exit 1
		echo "$k $line" >> "$D/rounds.$$"
	done
done
echo "Load before and after: $(uptime | sed 's/.*load average: //')"
echo
echo "| binary | tree | one machine | index tasks | merge | export tasks | last merge | sharded total | ratio |"
echo "| --- | --- | --: | --: | --: | --: | --: | --: | --: |"
for k in "${!bins[@]}"; do
	awk -v k="$k" 'BEGIN { n = 0 } $1 == k { for (c = 2; c <= 6; c++) v[c, n] = $c;
		t[n] = $3 + $4 + $5 + $6; r[n] = t[n] / $2; n++ }
	function med(c,   i, j, a, x) { for (i = 0; i < n; i++) a[i] = v[c, i];
		for (i = 1; i < n; i++) for (j = i; j > 0 && a[j - 1] > a[j]; j--) {
			x = a[j]; a[j] = a[j - 1]; a[j - 1] = x }
		return a[int((n - 1) / 2)] }
	END { for (i = 0; i < n; i++) v[7, i] = t[i];
		for (i = 0; i < n; i++) v[8, i] = r[i];
		printf "%.2f %.2f %.2f %.2f %.2f %.2f %.3f\n", med(2), med(3),
			med(4), med(5), med(6), med(7), med(8) }' "$D/rounds.$$" |
	while read -r one idx m1 exp m2 tot ratio; do
		printf '| %s | %d women, %d files of %dx%d, N = %d | %s | %s | %s | %s | %s | %s | %.0f%% |\n' \
			"$(basename "${bins[$k]}")" "$WOMEN" "$files" "$ROWS" "$ROWS" \
			"$N" "$one" "$idx" "$m1" "$exp" "$m2" "$tot" \
			"$(awk -v r="$ratio" 'BEGIN { print 100 * r }')"
	done
done
echo
echo "Median of $ROUNDS rounds (CPU seconds, user + system); the ratio is the median of the rounds' ratios."
echo "Rounds (binary, one machine, index, merge, export, last merge):"
echo
awk -v b="${bins[*]}" 'BEGIN { split(b, n, " ") }
	{ printf "    %s %s %s %s %s %s\n", n[$1 + 1], $2, $3, $4, $5, $6 }' \
	"$D/rounds.$$" | sed 's|/[^ ]*/||'
rm -f "$D/rounds.$$" "$D/time"
