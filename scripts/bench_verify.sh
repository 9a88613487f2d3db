#!/bin/bash
# `deidfs verify` of a live mount against `cat` of every file of the same
# mount, side by side (issue 15: verify should run within 2x of cat).  The
# MG tree is the large tree of scripts/bench_export.sh (mammography-sized
# files, about 1 GB), generated once into $BENCH_DIR; TREE=DIR measures
# another source tree instead (e.g. the mg40 tree of
# scripts/make_bench_trees.py: TREE=$BENCH_DIR/mg40/identified), without a
# CSV unless CSV=FILE.  verify runs with its default -j (the number of
# CPUs); with dciodvfy installed it is measured with and without it.
#
#   scripts/bench_verify.sh            ROUNDS (default 5) rounds, each: a
#                                      fresh mount, cat (first pass), cat
#                                      again (page cache), remount, verify
#                                      (first pass), verify again, and
#                                      verify --no-dciodvfy
#
# Each reader gets a fresh mount for its first pass, so neither profits
# from the other's page cache; the source tree itself is warm.  Not a test:
# numbers depend on the machine and its load.  Prints Markdown for
# BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH_DIR=${BENCH_DIR:-/tmp/deidfs-bench}
DEIDFS=${DEIDFS:-$PWD/build/deidfs}
ROUNDS=${ROUNDS:-5}
PY=/usr/bin/python3
WORK=${WORK:-$BENCH_DIR}
MNT="$WORK/vmnt"
DB="$WORK/verify.db"
mkdir -p "$BENCH_DIR" "$WORK" "$MNT"

if [ -n "${TREE:-}" ]; then
	src=$TREE
	csv=(${CSV:+--csv "$CSV"})
else
	tree="$BENCH_DIR/large"
	if [ ! -d "$tree/identified" ]; then
		echo "generating the large tree..." >&2
		$PY scripts/make_archive.py "$tree" --women 6 --big --seed 7 \
			>/dev/null
		rm -f "$tree/identified/DICOMDIR"
	fi
	src=$tree/identified
	csv=(--csv "$tree/variables.csv")
fi

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
umnt() {
	fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" 2>/dev/null || true
	sleep "${SETTLE:-1}"
}
trap umnt EXIT
mnt() {
	"$DEIDFS" mount -q --no-refresh --db "$DB" "${csv[@]}" "$src" "$MNT"
}

# the index, once (not timed), and the source in the page cache
"$DEIDFS" mount -q --db "$DB" "${csv[@]}" "$src" "$MNT"
umnt
find "$src" -type f -print0 | xargs -0 cat >/dev/null

catall() {
	local t0
	t0=$(now)
	find "$MNT" -type f -print0 | xargs -0 -n 256 cat >/dev/null
	secs "$t0" "$(now)"
}
verifyall() {
	local t0
	t0=$(now)
	"$DEIDFS" verify -q "$@" --db "$DB" "$MNT" >/dev/null || {
		echo "verify found something in the mount: see its output" >&2
		exit 1
	}
	secs "$t0" "$(now)"
}

bytes=$(du -sb --apparent-size "$src" | cut -f1)
echo "| round | cat (1st) | cat (cached) | verify (1st) | verify (cached) | verify --no-dciodvfy (cached) | verify/cat (1st) |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for r in $(seq 1 "$ROUNDS"); do
	mnt; c1=$(catall); c2=$(catall); umnt
	mnt; v1=$(verifyall); v2=$(verifyall); v3=$(verifyall --no-dciodvfy)
	umnt
	ratio=$(awk -v v="$v1" -v c="$c1" 'BEGIN { printf "%.2f", v / c }')
	echo "| $r | $c1 s | $c2 s | $v1 s | $v2 s | $v3 s | $ratio |"
done
echo
echo "source tree: $((bytes / 1048576)) MiB, $(nproc) CPUs; verify reads each file of the"
echo "mount once and its source's pixel data once more (from the page cache)."
