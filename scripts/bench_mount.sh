#!/bin/bash
# Read throughput and metadata speed of `deidfs mount`, side by side in one
# run with `cat` of the source tree and two plain passthrough FUSE mounts:
# bindfs (read-only) and libfuse's passthrough_ll example (compiled here from
# Debian's libfuse3-dev examples).  Warm page cache.  Also the daemon's
# resident memory after reading every file, for trees of 10k and 100k files.
#
#   scripts/bench_mount.sh [large|small|many|all|TREE]   (default all)
#
# ROUNDS (default 5) sets the rounds per tree; BASE=/path/to/deidfs adds an
# older build as one more reader, to compare two versions in one run.
#
# Trees are generated once into $BENCH_DIR (default /tmp/deidfs-bench), the
# same as scripts/bench_export.sh uses.  Not a test: numbers depend on the
# machine and its load.  Prints Markdown for BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
which="${1:-all}"
BENCH_DIR=${BENCH_DIR:-/tmp/deidfs-bench}
DEIDFS=${DEIDFS:-$PWD/build/deidfs}
BASE=${BASE:-}
ROUNDS=${ROUNDS:-5}
PY=/usr/bin/python3
MNT="$BENCH_DIR/mnt"
mkdir -p "$BENCH_DIR" "$MNT"

PLL="$BENCH_DIR/passthrough_ll"
if [ ! -x "$PLL" ]; then
	ex=/usr/share/doc/libfuse3-dev/examples
	[ -f "$ex/passthrough_ll.c" ] || gunzip -kf "$ex/passthrough_ll.c.gz"
	gcc -O2 -o "$PLL" "$ex/passthrough_ll.c" \
		$(pkg-config --cflags --libs fuse3)
fi

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { print b - a }'; }

umnt() {
	fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" 2>/dev/null || true
	# Unmounting frees the mount's page cache; let that finish before the
	# next reader starts.
	sleep "${SETTLE:-1}"
}
trap umnt EXIT

readall() {	# dir: print seconds to cat every file once
	local t0 t1
	t0=$(now)
	find "$1" -type f -print0 | xargs -0 -n 256 cat >/dev/null
	t1=$(now)
	secs "$t0" "$t1"
}

lsall() {
	local t0 t1
	t0=$(now)
	ls -lR "$1" >/dev/null
	t1=$(now)
	secs "$t0" "$t1"
}

median() { tr ' ' '\n' | grep . | sort -g | awk '{ a[NR] = $1 }
	END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

mount_reader() {	# reader, tree name, source
	local db="$BENCH_DIR/$2.mount.db"
	case $1 in
	bindfs) bindfs -r "$3" "$MNT" ;;
	passthrough_ll) "$PLL" -o "source=$3,ro" "$MNT" ;;
	deidfs) "$DEIDFS" mount -q --no-refresh --modalities all --db "$db" "$3" "$MNT" ;;
	deidfs-base) "$BASE" mount -q --no-refresh --modalities all --db "$db.base" "$3" "$MNT" ;;
	esac
	for _ in $(seq 50); do mountpoint -q "$MNT" && return; sleep 0.1; done
	echo "bench_mount: $1 did not mount" >&2
	exit 1
}

# Every reader runs once per round, in a new random order each round, and
# the table gives medians: on these shared machines a reader's speed depends
# on what ran just before it (up to 25% in one run), so a fixed order would
# favour whichever reader comes first.
bench_tree() {	# name
	local name=$1 src="$BENCH_DIR/$1/identified" r v
	local readers="bindfs passthrough_ll deidfs${BASE:+ deidfs-base}"
	declare -A first second ls
	find "$src" -type f -print0 | xargs -0 cat >/dev/null
	rm -f "$BENCH_DIR/$name.mount.db"* 	# index once, outside the timing
	"$DEIDFS" mount -q --modalities all --db "$BENCH_DIR/$name.mount.db" "$src" "$MNT"
	umnt
	if [ -n "$BASE" ]; then
		"$BASE" mount -q --modalities all --db "$BENCH_DIR/$name.mount.db.base" "$src" "$MNT"
		umnt
	fi
	declare -A bytes
	bytes[cat]=$(du -sb "$src" | cut -f1)
	for r in $(seq "$ROUNDS"); do
		first[cat]+=" $(readall "$src")"
		second[cat]+=" $(readall "$src")"
		ls[cat]+=" $(lsall "$src")"
		for v in $(printf '%s\n' $readers | shuf); do
			mount_reader "$v" "$name" "$src"
			# what this reader serves: the view leaves out
			# quarantined files and has its own headers
			bytes[$v]=$(find "$MNT" -type f -print0 |
				du -cb --files0-from=- | tail -1 | cut -f1)
			first[$v]+=" $(readall "$MNT")"
			second[$v]+=" $(readall "$MNT")"
			ls[$v]+=" $(lsall "$MNT")"
			umnt
		done
	done
	echo
	echo "### $name tree: $(find "$src" -type f | wc -l) files, $(du -sh "$src" | cut -f1), median of $ROUNDS rounds"
	echo
	echo "| reader                   | 1st read MB/s | 2nd read MB/s | ls -lR s |"
	echo "| ------------------------ | -------: | -------: | ------: |"
	for v in cat $readers; do
		awk -v n="$v" -v b="${bytes[$v]}" -v c="$(echo "${first[$v]}" | median)" \
		    -v w="$(echo "${second[$v]}" | median)" \
		    -v l="$(echo "${ls[$v]}" | median)" 'BEGIN {
			printf("| %-24s | %8.0f | %8.0f | %7.2f |\n", n,
			       b / 1e6 / c, b / 1e6 / w, l) }'
	done
}

# many small files: N copies of one small DICOM file with their own
# patient, study, series and instance identity
make_many() {	# n
	local dir="$BENCH_DIR/many$1/identified"
	[ -d "$dir" ] && return
	mkdir -p "$dir"
	$PY - "$dir" "$1" <<'EOF'
import os, sys
import pydicom
from pydicom.uid import generate_uid
out, n = sys.argv[1], int(sys.argv[2])
ds = pydicom.dcmread(os.path.join("tests", "data", "MR_small.dcm"))
ds.Modality = "MG"
for i in range(n):
    if i % 50 == 0:
        ds.PatientID = "%011d" % (10000000000 + i // 50)
        ds.StudyInstanceUID = generate_uid()
        ds.SeriesInstanceUID = generate_uid()
        d = os.path.join(out, "%04d" % (i // 1000), ds.PatientID)
        os.makedirs(d, exist_ok=True)
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.InstanceNumber = i % 50 + 1
    ds.save_as(os.path.join(d, "%06d.dcm" % i), write_like_original=False)
EOF
}

rss() {	# files: index, mount, read everything, report the daemon's VmRSS
	local n=$1 src="$BENCH_DIR/many$1/identified" pid t0 t1 r1 r2
	make_many "$n"
	rm -f "$BENCH_DIR/many$n.db"*
	t0=$(now)
	"$DEIDFS" mount -q --db "$BENCH_DIR/many$n.db" "$src" "$MNT"
	t1=$(now)
	local first
	first=$(secs "$t0" "$t1")
	umnt
	t0=$(now)
	"$DEIDFS" mount -q --db "$BENCH_DIR/many$n.db" "$src" "$MNT"
	t1=$(now)
	pid=$(pgrep -n -f "deidfs mount -q --db $BENCH_DIR/many$n.db")
	{ find "$MNT" -type f | head -n $((n / 10)) | xargs cat >/dev/null; } || true
	r1=$(awk '/VmRSS/ {print $2}' /proc/"$pid"/status)
	find "$MNT" -type f -print0 | xargs -0 -n 512 cat >/dev/null
	r2=$(awk '/VmRSS/ {print $2}' /proc/"$pid"/status)
	printf "| %7d | %9.1f | %11.2f | %9d | %9d |\n" "$n" "$first" \
		"$(secs "$t0" "$t1")" "$r1" "$r2"
	umnt
}

echo "Machine: $(nproc) CPUs, $(free -g | awk '/Mem:/ {print $2}') GiB," \
	"$(uname -sr), $(df -hT "$BENCH_DIR" | awk 'NR==2 {print $2}') at" \
	"$BENCH_DIR; $(date -u +%Y-%m-%d)"
case $which in large | all) [ -d "$BENCH_DIR/large" ] && bench_tree large ;; esac
case $which in small | all) [ -d "$BENCH_DIR/small" ] && bench_tree small ;; esac
case $which in large | small | many | all) ;;
*)	# any other tree under BENCH_DIR, e.g. large-no-overlay
	[ -d "$BENCH_DIR/$which/identified" ] || {
		echo "bench_mount: no tree $BENCH_DIR/$which/identified" >&2
		exit 2
	}
	bench_tree "$which" ;;
esac
case $which in many | all)
	echo
	echo "### daemon memory and remount time"
	echo
	echo "|   files | first mount s (index) | remount s (unchanged) | RSS after 10% read (KiB) | RSS after all read (KiB) |"
	echo "| ------: | ------: | ------: | ------: | ------: |"
	rss 10000
	rss 100000
	;;
esac
