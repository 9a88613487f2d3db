#!/bin/sh
# The Debian package, end to end (issue 16), as root on Debian 12: build
# the .deb from a copy of the tree (dpkg-buildpackage -us -uc -b; the copy
# keeps build/ of the tree untouched), check it with lintian (warnings and
# errors fail; debian/ explains any override), install it, mount a test
# archive from an fstab line through mount -T and the packaged helper
# /sbin/mount.fuse.deidfs, read the view, unmount, and remove the package.
# Refuses to run where a deidfs package is installed already: it would
# remove it.  Called by scripts/test.sh.
set -eu
cd "$(dirname "$0")/.."
repo=$(pwd)

if [ "$(id -u)" -ne 0 ]; then
	echo "test-deb: needs root (dpkg -i, mount)" >&2
	exit 1
fi
if dpkg-query -W -f='${Status}' deidfs 2>/dev/null | grep -q installed; then
	echo "test-deb: a deidfs package is installed already; not touching it" >&2
	exit 1
fi

tmp=$(mktemp -d /tmp/deidfs-deb.XXXXXX)
installed=""
cleanup() {
	mountpoint -q "$tmp/mnt" 2>/dev/null && umount "$tmp/mnt"
	[ -n "$installed" ] && dpkg -r deidfs >/dev/null 2>&1
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

version=$(dpkg-parsechangelog -l debian/changelog -S Version)
src="$tmp/deidfs-$version"
mkdir -p "$src"
# the tree as it is (committed or not), without what git ignores (build/)
git ls-files -z --cached --others --exclude-standard |
	xargs -0 cp --parents -t "$src"

echo "test-deb: dpkg-buildpackage" >&2
(cd "$src" && dpkg-buildpackage -us -uc -b -j"$(nproc)") >"$tmp/build.log" 2>&1 ||
	{ tail -40 "$tmp/build.log" >&2; exit 1; }
deb="$tmp/deidfs_${version}_$(dpkg --print-architecture).deb"

echo "test-deb: lintian" >&2
lintian --fail-on error,warning "$tmp/deidfs_${version}_$(dpkg --print-architecture).changes" >&2

echo "test-deb: install" >&2
installed=1
dpkg -i "$deb" >/dev/null
[ "$(command -v deidfs)" = /usr/bin/deidfs ]
deidfs --version
man -w deidfs >/dev/null
man -w mount.fuse.deidfs >/dev/null
# the Slurm wrapper (README "On a cluster"), beside the deidfs it runs
[ "$(command -v deidfs-slurm)" = /usr/bin/deidfs-slurm ]
deidfs-slurm --help | grep -q -- --retry
man -w deidfs-slurm >/dev/null

echo "test-deb: mount from an fstab line" >&2
/usr/bin/python3 scripts/make_archive.py "$tmp/arch" --women 5 \
	--phi-out "$tmp/phi.json" >/dev/null
mkdir "$tmp/mnt"
# a comma inside a value is written \, (deidfs(1))
printf '%s %s fuse.deidfs ro,db=%s,csv=%s,modalities=MG\\,OT,allow_other,nofail 0 0\n' \
	"$tmp/arch/identified" "$tmp/mnt" "$tmp/project.db" \
	"$tmp/arch/variables.csv" >"$tmp/fstab"
mount -T "$tmp/fstab" "$tmp/mnt"
grep -q " $tmp/mnt fuse.deidfs " /proc/mounts
# every DICOM file of the view parses; the CSV names existing folders
/usr/bin/python3 - "$tmp/mnt" <<'EOF'
import csv, os, sys
import pydicom
mnt = sys.argv[1]
n = 0
for d, _, files in os.walk(mnt):
    for f in files:
        if f.endswith(".dcm"):
            ds = pydicom.dcmread(os.path.join(d, f))
            assert ds.PatientIdentityRemoved == "YES"
            n += 1
assert n > 0, "no DICOM file in the view"
with open(os.path.join(mnt, "cleaned_variables.csv"), encoding="utf-8") as f:
    rows = list(csv.reader(f, delimiter=";"))
assert rows[0][-1] == "view_folder"
for r in rows[1:]:
    assert r[-1].startswith(".quarantine/") or \
        os.path.isdir(os.path.join(mnt, r[-1])), r[-1]
print("test-deb: %d DICOM files and %d CSV rows read from the view"
      % (n, len(rows) - 1), file=sys.stderr)
EOF
umount "$tmp/mnt"
if mountpoint -q "$tmp/mnt"; then
	echo "test-deb: still mounted after umount" >&2
	exit 1
fi

echo "test-deb: remove" >&2
dpkg -r deidfs >/dev/null
installed=""
for f in /usr/bin/deidfs /usr/bin/deidfs-slurm /sbin/mount.fuse.deidfs \
	/usr/share/man/man1/deidfs.1.gz /usr/share/man/man1/deidfs-slurm.1.gz; do
	if [ -e "$f" ]; then
		echo "test-deb: $f left after dpkg -r" >&2
		exit 1
	fi
done
echo "test-deb: ok" >&2
