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
#   scripts/bench_verify.sh            ROUNDS (default 5) rounds, each
#                                      reader on a fresh mount of its own,
#                                      its first pass then a second (page
#                                      cache): cat, sha256sum of every
#                                      file (as many at once as CPUs: the
#                                      manifest alone, by the standard
#                                      tool), verify --no-dciodvfy,
#                                      verify (with dciodvfy, when it is
#                                      installed), and with BASE=OLD-DEIDFS
#                                      an older build's verify
#                                      --no-dciodvfy
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
# the manifest alone with the standard tool: sha256sum of every file, as
# many at once as there are CPUs
sumall() {
	local t0
	t0=$(now)
	find "$MNT" -type f -print0 |
		xargs -0 -n 8 -P "$(nproc)" sha256sum >/dev/null
	secs "$t0" "$(now)"
}
verifyall() {
	local t0
	t0=$(now)
	"${VBIN:-$DEIDFS}" verify -q "$@" --db "$DB" "$MNT" >/dev/null || {
		echo "verify found something in the mount: see its output" >&2
		exit 1
	}
	secs "$t0" "$(now)"
}

bytes=$(du -sb --apparent-size "$src" | cut -f1)
# each reader: a fresh mount, its first pass, then a pass from the page
# cache; BASE=/path/to/old/deidfs measures an older verify alike (on this
# build's mount and db)
pair() {
	local a b
	mnt; a=$("$@"); b=$("$@"); umnt
	echo "$a $b"
}
oracle=1
command -v dciodvfy >/dev/null || oracle=0
hdr="| round | cat | sha256sum -P $(nproc) | verify --no-dciodvfy |"
[ "$oracle" = 1 ] && hdr="$hdr verify |"
[ -n "${BASE:-}" ] && hdr="$hdr BASE verify --no-dciodvfy |"
echo "first pass / page cache, seconds; ratios to cat's first pass and to its page-cache pass"
echo
echo "$hdr verify --no-dciodvfy / cat |"
echo "$hdr |" | sed 's/[^|][^|]*|/ --- |/g'
for r in $(seq 1 "$ROUNDS"); do
	set -- $(pair catall)
	c1=$1 c2=$2
	set -- $(pair sumall)
	s1=$1 s2=$2
	set -- $(pair verifyall --no-dciodvfy)
	n1=$1 n2=$2
	row="| $r | $c1 / $c2 | $s1 / $s2 | $n1 / $n2 |"
	if [ "$oracle" = 1 ]; then
		set -- $(pair verifyall)
		row="$row $1 / $2 |"
	fi
	if [ -n "${BASE:-}" ]; then
		set -- $(VBIN=$BASE pair verifyall --no-dciodvfy)
		row="$row $1 / $2 |"
	fi
	ratio=$(awk -v a="$n1" -v b="$c1" -v c="$n2" -v d="$c2" \
		'BEGIN { printf "%.2fx / %.2fx", a / b, c / d }')
	echo "$row $ratio |"
done
echo
echo "source tree: $((bytes / 1048576)) MiB, $(nproc) CPUs, load before: $(cut -d' ' -f1-3 /proc/loadavg)."
echo "verify reads each file of the mount once and its source's pixel data once"
echo "more (from the page cache), and hashes every byte (SHA-256, the manifest)."
