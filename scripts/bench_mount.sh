#!/bin/bash
# Read throughput and metadata speed of `deidfs mount`, side by side in one
# run with `cat` of the source tree and two plain passthrough FUSE mounts:
# bindfs (read-only) and libfuse's passthrough_ll example (compiled here from
# Debian's libfuse3-dev examples).  Warm page cache.  Also the daemon's
# resident memory after reading every file, for trees of 10k and 100k files.
#
#   scripts/bench_mount.sh [large|small|many|all]        (default all)
#
# Trees are generated once into $BENCH_DIR (default /tmp/deidfs-bench), the
# same as scripts/bench_export.sh uses.  Not a test: numbers depend on the
# machine and its load.  Prints Markdown for BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
which="${1:-all}"
BENCH_DIR=${BENCH_DIR:-/tmp/deidfs-bench}
DEIDFS=${DEIDFS:-$PWD/build/deidfs}
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

umnt() { fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" 2>/dev/null || true; }
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

row() {	# name, bytes, cold-read s, warm-read s, ls -lR s
	awk -v n="$1" -v b="$2" -v c="$3" -v w="$4" -v l="$5" 'BEGIN {
		printf("| %-24s | %8.0f | %8.0f | %7.2f |\n", n, b / 1e6 / c,
		       b / 1e6 / w, l) }'
}

mount_and_measure() {	# name, source, mount command...
	local name=$1 src=$2 bytes c w l
	shift 2
	umnt
	"$@"
	for _ in $(seq 50); do mountpoint -q "$MNT" && break; sleep 0.1; done
	bytes=$(find "$MNT" -type f -print0 | du -cb --files0-from=- | tail -1 | cut -f1)
	c=$(readall "$MNT")
	w=$(readall "$MNT")
	l=$(lsall "$MNT")
	row "$name" "$bytes" "$c" "$w" "$l"
	umnt
}

bench_tree() {	# name
	local name=$1 src="$BENCH_DIR/$1/identified" bytes c w l
	find "$src" -type f -print0 | xargs -0 cat >/dev/null
	bytes=$(du -sb "$src" | cut -f1)
	echo
	echo "### $name tree: $(find "$src" -type f | wc -l) files, $(du -sh "$src" | cut -f1)"
	echo
	echo "| reader                   | 1st read MB/s | 2nd read MB/s | ls -lR s |"
	echo "| ------------------------ | -------: | -------: | ------: |"
	c=$(readall "$src"); w=$(readall "$src"); l=$(lsall "$src")
	row "cat (source)" "$bytes" "$c" "$w" "$l"
	mount_and_measure "bindfs -r" "$src" bindfs -r "$src" "$MNT"
	mount_and_measure "passthrough_ll" "$src" "$PLL" -o "source=$src,ro" "$MNT"
	rm -f "$BENCH_DIR/$name.mount.db"*
	"$DEIDFS" mount -q --modalities all --db "$BENCH_DIR/$name.mount.db" "$src" "$MNT"
	umnt	# indexed now: measure a mount from the index
	mount_and_measure "deidfs mount" "$src" "$DEIDFS" mount -q --no-refresh \
		--modalities all --db "$BENCH_DIR/$name.mount.db" "$src" "$MNT"
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
