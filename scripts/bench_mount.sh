#!/bin/bash
# Read throughput and metadata speed of `deidfs mount`, side by side in one
# run with `cat` of the source tree, `cp -r` of it (no sync: the limit of an
# export) and two plain passthrough FUSE mounts: bindfs (read-only) and
# libfuse's passthrough_ll example (compiled here from Debian's libfuse3-dev
# examples).  The source's pages warm; each reader mounted afresh, read
# once (its page cache empty) and again (what the kernel kept).  Also the
# daemon's resident memory while every file is read, for trees of 10k and
# 100k files.
#
#   scripts/bench_mount.sh [all|trees|ct2000|mg40|many|large|small|TREE]
#
# all (the default): the two trees of issue 13, made by
# scripts/make_bench_trees.py (ct2000: 2,000 CT-like files of 0.53 MB;
# mg40: 40 mammograms of 27 MB), then the memory table.  ROUNDS (default
# 5) sets the rounds per tree; BASE=/path/to/deidfs adds an older build as
# one more reader, to compare two versions in one run.  MANY_OPTS adds
# options to the memory table's mounts (e.g. --no-scan: the first index
# then leaves out the burned-in text scan, which has its own figures).
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
	local name=$1 src="$BENCH_DIR/$1/identified" r v t0
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
	bytes[cp]=${bytes[cat]}
	for r in $(seq "$ROUNDS"); do
		first[cat]+=" $(readall "$src")"
		second[cat]+=" $(readall "$src")"
		ls[cat]+=" $(lsall "$src")"
		# the limit of an export: a copy, no sync
		rm -rf "$BENCH_DIR/$name.cp"
		t0=$(now)
		cp -r "$src" "$BENCH_DIR/$name.cp"
		first[cp]+=" $(secs "$t0" "$(now)")"
		rm -rf "$BENCH_DIR/$name.cp"
		for v in $(printf '%s\n' $readers | shuf); do
			mount_reader "$v" "$name" "$src"
			# what this reader serves: the view leaves out
			# quarantined files and has its own headers
			bytes[$v]=$(find "$MNT" -type f -print0 |
				du -cb --files0-from=- | tail -1 | cut -f1)
			# 1st: right after mounting (the mount's page cache
			# empty, the index and the source's pages warm); 2nd:
			# again, what the kernel kept
			first[$v]+=" $(readall "$MNT")"
			second[$v]+=" $(readall "$MNT")"
			ls[$v]+=" $(lsall "$MNT")"
			umnt
		done
	done
	local b2
	b2=$(echo "${second[bindfs]}" | median)
	echo
	echo "### $name tree: $(find "$src" -type f | wc -l) files, $(du -sh "$src" | cut -f1), median of $ROUNDS rounds"
	echo
	echo "Every file read once with \`cat\` (1st: just mounted; 2nd: again), \`ls -lR\`;"
	echo "\`cp -r\` of the source without sync as the export's limit."
	echo
	echo "| reader | 1st read s | MB/s | 2nd read s | MB/s | 2nd read x bindfs | ls -lR s |"
	echo "| --- | --: | --: | --: | --: | --: | --: |"
	for v in cat cp $readers; do
		awk -v n="$v" -v b="${bytes[$v]}" -v c="$(echo "${first[$v]}" | median)" \
		    -v w="$(echo "${second[$v]:-}" | median)" -v bb="$b2" \
		    -v l="$(echo "${ls[$v]:-}" | median)" 'BEGIN {
			if (n == "cp") {
				printf("| cp -r (no sync) | %.3f | %.0f | | | | |\n",
				       c, b / 1e6 / c)
				exit
			}
			printf("| %s | %.3f | %.0f | %.3f | %.0f | %.2f | %.2f |\n",
			       n == "cat" ? "cat (source)" : n, c, b / 1e6 / c,
			       w, b / 1e6 / w, bb / w, l) }'
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
	local n=$1 src="$BENCH_DIR/many$1/identified" pid t0 t1 r1 r2 r3
	make_many "$n"
	rm -f "$BENCH_DIR/many$n.db"*
	t0=$(now)
	"$DEIDFS" mount -q ${MANY_OPTS:-} --db "$BENCH_DIR/many$n.db" "$src" "$MNT"
	t1=$(now)
	local first
	first=$(secs "$t0" "$t1")
	umnt
	t0=$(now)
	"$DEIDFS" mount -q ${MANY_OPTS:-} --db "$BENCH_DIR/many$n.db" "$src" "$MNT"
	t1=$(now)
	pid=$(pgrep -n -f -- "--db $BENCH_DIR/many$n.db")
	{ find "$MNT" -type f | head -n $((n / 10)) | xargs cat >/dev/null; } || true
	r1=$(awk '/VmRSS/ {print $2}' /proc/"$pid"/status)
	find "$MNT" -type f -print0 | xargs -0 -n 512 cat >/dev/null
	r2=$(awk '/VmRSS/ {print $2}' /proc/"$pid"/status)
	# the kernel's caches dropped: every file opened (and its map made
	# or found) again
	echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
	find "$MNT" -type f -print0 | xargs -0 -n 512 cat >/dev/null
	r3=$(awk '/VmRSS/ {print $2}' /proc/"$pid"/status)
	printf "| %7d | %9.1f | %11.2f | %9d | %9d | %9d |\n" "$n" "$first" \
		"$(secs "$t0" "$t1")" "$r1" "$r2" "$r3"
	umnt
}

# The two trees of issue 13 (scripts/make_bench_trees.py)
issue_tree() {	# ct2000 | mg40
	[ -d "$BENCH_DIR/$1/identified" ] ||
		$PY scripts/make_bench_trees.py "$1" "$BENCH_DIR/$1"
	bench_tree "$1"
}

echo "Machine: $(nproc) CPUs, $(free -g | awk '/Mem:/ {print $2}') GiB," \
	"$(uname -sr), $(df -hT "$BENCH_DIR" | awk 'NR==2 {print $2}') at" \
	"$BENCH_DIR; $(date -u +%Y-%m-%d)"
case $which in
ct2000 | mg40 | trees | all)
	[ "$which" = mg40 ] || issue_tree ct2000
	[ "$which" = ct2000 ] || issue_tree mg40 ;;
large) bench_tree large ;;
small) bench_tree small ;;
many) ;;
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
	echo "|   files | first mount s (index) | remount s (unchanged) | RSS after 10% read (KiB) | RSS after all read (KiB) | RSS after all read twice (KiB) |"
	echo "| ------: | ------: | ------: | ------: | ------: | ------: |"
	rss 10000
	rss 100000
	;;
esac
