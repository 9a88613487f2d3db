#!/bin/bash
# Export throughput, side by side with references, in one run on the same
# trees (warm page cache): cp -r (the limit: export is a copy plus a new
# header per file), gdcmanon (GDCM's PS3.15 basic profile) and dcmtk's
# dcmodify doing a comparable anonymisation in place on a copy.
#
#   scripts/bench_export.sh [trees|ct2000|mg40|large|small|both|compressed]
#   BASE=/path/to/older/deidfs scripts/bench_export.sh ...   two builds
#
# trees (the default): the two trees of issue 13 (scripts/
# make_bench_trees.py: ct2000, 2,000 CT-like files of 0.53 MB; mg40, 40
# mammograms of 27 MB), deidfs side by side with cat and cp -r, no sync
# (side_by_side() below).
#
# Other trees (generated once into $BENCH_DIR, default /tmp/deidfs-bench):
#   large: mammography-sized files (~17-27 MB each, about 1 GB in all)
#   small: 512x512 16-bit images (~0.5 MB each), a few thousand files
#   compressed: the large tree's mammograms as JPEG lossless (dcmcjpeg) and
#     JPEG-LS (dcmcjpls), alternately: the cost of walking codestreams
# Results are printed as a Markdown table for BENCHMARKS.md.  Not a test:
# the numbers depend on the machine and its load.
set -euo pipefail
cd "$(dirname "$0")/.."
which="${1:-trees}"
BENCH_DIR=${BENCH_DIR:-/tmp/deidfs-bench}
DEIDFS=${DEIDFS:-build/deidfs}
PY=/usr/bin/python3
mkdir -p "$BENCH_DIR"

make_tree() {	# name, make_archive options...
	local name=$1
	shift
	if [ ! -d "$BENCH_DIR/$name/identified" ]; then
		echo "generating the $name tree..." >&2
		$PY scripts/make_archive.py "$BENCH_DIR/$name" "$@" >/dev/null
		# keep only the publishable MG/OT images: a benchmark of the
		# copy path, not of quarantine
		rm -f "$BENCH_DIR/$name/identified/DICOMDIR"
	fi
}

# The large tree without the files that carry a 1 MiB overlay plane (the
# generator plants one in a few studies): real screening mammograms rarely
# have overlays, and each one is parsed, audited and wiped.
make_no_overlay() {
	local dir="$BENCH_DIR/large-no-overlay/identified"
	[ -d "$dir" ] && return
	mkdir -p "$dir"
	$PY - "$BENCH_DIR/large/identified" "$dir" <<'EOF'
import os, shutil, sys
import pydicom
src, dst = sys.argv[1], sys.argv[2]
n = 0
for dp, dn, fn in os.walk(src):
    for f in sorted(fn):
        p = os.path.join(dp, f)
        try:
            ds = pydicom.dcmread(p, stop_before_pixels=True)
        except Exception:
            continue
        if ds.get("Modality") != "MG" or \
                any(((k >> 16) & 0xff00) == 0x6000 for k in ds.keys()):
            continue
        n += 1
        shutil.copy(p, os.path.join(dst, "%04d.dcm" % n))
EOF
}

# The large tree's mammograms compressed, half JPEG lossless, half JPEG-LS.
make_compressed() {
	local dir="$BENCH_DIR/compressed/identified" f n=0
	[ -d "$dir" ] && return
	mkdir -p "$dir"
	for f in "$BENCH_DIR"/large-no-overlay/identified/*.dcm; do
		n=$((n + 1))
		# a file the tool cannot compress is left out
		if [ $((n % 2)) = 0 ]; then
			dcmcjpls "$f" "$dir/$(basename "$f")" 2>/dev/null ||
				rm -f "$dir/$(basename "$f")"
		else
			dcmcjpeg "$f" "$dir/$(basename "$f")" 2>/dev/null ||
				rm -f "$dir/$(basename "$f")"
		fi
	done
}

warm() { find "$1" -type f -exec cat {} + >/dev/null; }

now() { date +%s.%N; }

row() {	# tool, tree dir, seconds
	local files bytes
	files=$(find "$2" -type f -name '*' | wc -l)
	bytes=$(du -sb "$2" | cut -f1)
	awk -v t="$1" -v s="$3" -v f="$files" -v b="$bytes" 'BEGIN {
		printf("| %-28s | %6d | %8.1f | %7.2f | %8.0f | %7.0f |\n",
		       t, f, b / 1e6, s, b / 1e6 / s, f / s) }'
}

certs() {
	if [ ! -f "$BENCH_DIR/key.pem" ]; then
		openssl req -x509 -newkey rsa:2048 -nodes -days 30 \
			-subj "/CN=deidfs-bench" -keyout "$BENCH_DIR/key.pem" \
			-out "$BENCH_DIR/cert.pem" 2>/dev/null
	fi
}

bench() {	# name
	local name=$1 src="$BENCH_DIR/$1/identified" out="$BENCH_DIR/$1.out"
	local t0 t1
	warm "$src"
	echo
	echo "### $name tree: $(find "$src" -type f | wc -l) files," \
		"$(du -sh "$src" | cut -f1)"
	echo
	echo "| tool                         |  files |       MB |       s |     MB/s | files/s |"
	echo "| ---------------------------- | -----: | -------: | ------: | -------: | ------: |"

	rm -rf "$out"
	sync
	t0=$(now); cp -r "$src" "$out"; sync; t1=$(now)
	row "cp -r" "$out" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"

	rm -rf "$out" "$BENCH_DIR/$name.db"*
	sync
	t0=$(now)
	"$DEIDFS" export -q --db "$BENCH_DIR/$name.db" --modalities all \
		"$src" "$out" || true
	sync; t1=$(now)
	row "deidfs export (new db)" "$out" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"

	rm -rf "$out"
	sync
	t0=$(now)
	"$DEIDFS" export -q --db "$BENCH_DIR/$name.db" --modalities all \
		"$src" "$out" || true
	sync; t1=$(now)
	row "deidfs export (indexed db)" "$out" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"

	rm -rf "$out"
	certs
	sync
	t0=$(now)
	gdcmanon --continue -r -e -c "$BENCH_DIR/cert.pem" -i "$src" \
		-o "$out" >/dev/null 2>&1 || true
	sync; t1=$(now)
	row "gdcmanon -e (basic profile)" "$out" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"

	rm -rf "$out"
	cp -r "$src" "$out"
	sync
	t0=$(now)
	find "$out" -type f -print0 | xargs -0 -P "$(nproc)" -n 64 \
		dcmodify -q -nb -imt -gin -ie \
		-ma "(0010,0010)=ANON" -ma "(0010,0020)=ANON" \
		-ea "(0010,0030)" -ea "(0008,0090)" -ea "(0008,0080)" \
		-ea "(0008,0081)" -ea "(0008,1070)" -ea "(0010,1040)" \
		-ea "(0008,0050)" -ea "(0020,0010)" -ea "(0010,1000)" \
		-ea "(0008,1050)" -ea "(0008,1060)" -ea "(0010,2154)" \
		-ea "(0020,4000)" -ea "(0010,4000)" -ea "(0008,1010)" \
		-ea "(0018,1000)" -ea "(0032,4000)" -ea "(0010,21b0)" \
		-gst -gse >/dev/null 2>&1 || true
	sync; t1=$(now)
	row "dcmodify in place (after cp)" "$out" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
	rm -rf "$out"
}

# With BASE=/path/to/an/older/deidfs: the two builds side by side with cp
# -r, ROUNDS rounds (default 5) in shuffled order, medians; each build
# exports with its own db, indexed before the timing (a run is then a
# refresh that parses nothing plus the copy with new headers).
median() { tr ' ' '\n' | grep . | sort -g | awk '{ a[NR] = $1 }
	END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

versions() {	# name
	local name=$1 src="$BENCH_DIR/$1/identified" out="$BENCH_DIR/$1.vout"
	local r v t0 t1 bytes
	declare -A took
	rm -f "$BENCH_DIR/$name.v.db"* "$BENCH_DIR/$name.vb.db"*
	"$DEIDFS" export -q --db "$BENCH_DIR/$name.v.db" --modalities all \
		"$src" "$out" || true
	rm -rf "$out"
	"$BASE" export -q --db "$BENCH_DIR/$name.vb.db" --modalities all \
		"$src" "$out" || true
	rm -rf "$out"
	warm "$src"
	for r in $(seq "${ROUNDS:-5}"); do
		for v in $(printf '%s\n' cp new base | shuf); do
			rm -rf "$out"
			sync
			t0=$(now)
			case $v in
			cp) cp -r "$src" "$out" ;;
			new) "$DEIDFS" export -q --db "$BENCH_DIR/$name.v.db" \
				--modalities all "$src" "$out" || true ;;
			base) "$BASE" export -q --db "$BENCH_DIR/$name.vb.db" \
				--modalities all "$src" "$out" || true ;;
			esac
			sync
			t1=$(now)
			took[$v]="${took[$v]:-} $(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
		done
	done
	bytes=$(du -sb "$src" | cut -f1)
	echo
	echo "### $name tree, this build against BASE, median of ${ROUNDS:-5} rounds"
	echo
	echo "| tool | s | MB/s of the source | x cp -r |"
	echo "| --- | ---: | ---: | ---: |"
	for v in cp base new; do
		awk -v n="$v" -v s="$(echo "${took[$v]}" | median)" \
		    -v c="$(echo "${took[cp]}" | median)" -v b="$bytes" 'BEGIN {
			name = (n == "cp") ? "cp -r" : (n == "new") ? "deidfs export (this build)" : "deidfs export (BASE)"
			printf("| %s | %.3f | %.0f | %.2f |\n", name, s, b / 1e6 / s, c / s) }'
	done
	rm -rf "$out"
}

# The trees of issue 13 side by side, no sync anywhere: cat of the source
# (the limit of reading), cp -r (the limit of an export: a copy), deidfs
# export with an indexed db (a refresh that parses nothing, then every
# file's header made and written with its pixel bytes), and BASE if set.
# ROUNDS rounds (default 5) in shuffled order; medians.
side_by_side() {	# name
	local name=$1 src="$BENCH_DIR/$1/identified" out="$BENCH_DIR/$1.sout"
	local r v t0 t1 bytes tools="cat cp new${BASE:+ base}"
	declare -A took
	[ -d "$src" ] || $PY scripts/make_bench_trees.py "$name" "$BENCH_DIR/$name"
	rm -rf "$out"
	rm -f "$BENCH_DIR/$name.s.db"* "$BENCH_DIR/$name.sb.db"*
	"$DEIDFS" export -q --db "$BENCH_DIR/$name.s.db" --modalities all \
		"$src" "$out" || true
	rm -rf "$out"
	if [ -n "${BASE:-}" ]; then
		"$BASE" export -q --db "$BENCH_DIR/$name.sb.db" --modalities all \
			"$src" "$out" || true
		rm -rf "$out"
	fi
	warm "$src"
	for r in $(seq "${ROUNDS:-5}"); do
		for v in $(printf '%s\n' $tools | shuf); do
			rm -rf "$out"
			t0=$(now)
			case $v in
			cat) find "$src" -type f -print0 |
				xargs -0 -n 256 cat >/dev/null ;;
			cp) cp -r "$src" "$out" ;;
			new) "$DEIDFS" export -q --db "$BENCH_DIR/$name.s.db" \
				--modalities all "$src" "$out" || true ;;
			base) "$BASE" export -q --db "$BENCH_DIR/$name.sb.db" \
				--modalities all "$src" "$out" || true ;;
			esac
			t1=$(now)
			took[$v]="${took[$v]:-} $(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
		done
	done
	rm -rf "$out"
	bytes=$(du -sb "$src" | cut -f1)
	echo
	echo "### $name tree: $(find "$src" -type f | wc -l) files, $(du -sh "$src" | cut -f1), median of ${ROUNDS:-5} rounds, no sync"
	echo
	echo "| tool | s | MB/s of the source | speed x cp -r |"
	echo "| --- | ---: | ---: | ---: |"
	for v in $tools; do
		awk -v n="$v" -v s="$(echo "${took[$v]}" | median)" \
		    -v c="$(echo "${took[cp]}" | median)" -v b="$bytes" 'BEGIN {
			name = (n == "cat") ? "cat of the source" : (n == "cp") ? "cp -r" : (n == "new") ? "deidfs export (indexed db)" : "deidfs export (BASE)"
			printf("| %s | %.3f | %.0f | %.2f |\n", name, s, b / 1e6 / s, c / s) }'
	done
}

echo "Machine: $(nproc) CPUs, $(free -g | awk '/Mem:/ {print $2}') GiB," \
	"$(uname -sr), $(df -hT "$BENCH_DIR" | awk 'NR==2 {print $2}') at" \
	"$BENCH_DIR; $(date -u +%Y-%m-%d)"
if [ "$which" = trees ] || [ "$which" = ct2000 ] || [ "$which" = mg40 ]; then
	[ "$which" = mg40 ] || side_by_side ct2000
	[ "$which" = ct2000 ] || side_by_side mg40
	exit 0
fi
if [ -n "${BASE:-}" ]; then
	if [ "$which" = large ] || [ "$which" = both ]; then
		make_tree large --women 6 --big --seed 7
		make_no_overlay
		versions large-no-overlay
	fi
	if [ "$which" = small ] || [ "$which" = both ]; then
		make_tree small --women 400 --rows 512 --cols 512 --seed 8
		versions small
	fi
	if [ "$which" = compressed ]; then
		make_tree large --women 6 --big --seed 7
		make_no_overlay
		make_compressed
		versions compressed
	fi
	exit 0
fi
if [ "$which" = large ] || [ "$which" = both ]; then
	make_tree large --women 6 --big --seed 7
	bench large
	make_no_overlay
	bench large-no-overlay
fi
if [ "$which" = small ] || [ "$which" = both ]; then
	make_tree small --women 400 --rows 512 --cols 512 --seed 8
	bench small
fi
if [ "$which" = compressed ]; then
	make_tree large --women 6 --big --seed 7
	make_no_overlay
	make_compressed
	bench compressed
fi
