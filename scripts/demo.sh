#!/bin/sh
# The demo, on a fresh Debian 12 machine: installs the packages, builds
# deidfs, generates a small identified archive (names, IDs and dates planted
# everywhere, in folder names too), exports the de-identified view, shows it
# and the run report, then mounts the same view with FUSE and lists it.
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh
make -s -j"$(nproc)" all

DEMO=${DEMO_DIR:-build/demo}
rm -rf "$DEMO"
mkdir -p "$DEMO"
/usr/bin/python3 scripts/make_archive.py "$DEMO" >/dev/null

echo "== identified archive (what the hospital has):"
(cd "$DEMO" && find identified -type f | sort | head -8)
echo "   ..."
echo
echo "== deidfs export --csv variables.csv --db project.db identified/ cleaned/"
build/deidfs export --with-quarantine --report "$DEMO/report.json" \
	--csv "$DEMO/variables.csv" --db "$DEMO/project.db" \
	"$DEMO/identified" "$DEMO/cleaned" || true
echo
echo "== the research view:"
(cd "$DEMO/cleaned" && find . -path ./.quarantine -prune -o -type f -print | sort | head -12)
echo "   ..."
echo
echo "== cleaned_variables.csv:"
head -5 "$DEMO/cleaned/cleaned_variables.csv"
echo
echo "== .quarantine/reasons.csv:"
cat "$DEMO/cleaned/.quarantine/reasons.csv"
echo
f=$(cd "$DEMO/cleaned" && find . -name '*.dcm' -not -path './.quarantine/*' | sort | head -1)
echo "== patient module of $f:"
dcmdump "$DEMO/cleaned/$f" | grep -E '\(0010,|\(0012,|\(0020,000d|\(0008,0020' || true
echo
if [ -e /dev/fuse ]; then
	mkdir -p "$DEMO/mnt"
	echo "== deidfs mount (same view, generated on read):"
	build/deidfs mount --csv "$DEMO/variables.csv" --db "$DEMO/project.db" \
		"$DEMO/identified" "$DEMO/mnt"
	ls "$DEMO/mnt" | head -8
	if diff -r "$DEMO/mnt" "$DEMO/cleaned" -x .quarantine >/dev/null; then
		echo "   mount and export are identical"
	else
		echo "   mount and export DIFFER"
	fi
	fusermount3 -u "$DEMO/mnt"
fi
echo
echo "Everything is in $DEMO (report.json, project.db, cleaned/)."
