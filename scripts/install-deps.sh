#!/bin/sh
# Install what deidfs needs to build, test and run, from Debian 12 packages.
# bash-completion, groff-base and man-db check the completion and the man
# page (tests/e2e/test_install.py); debhelper and lintian build and check
# the .deb (scripts/test-deb.sh).
# Idempotent: skips apt-get when every package is already installed.
# The burned-in text scan (issue 14) needs Tesseract's C API and its English
# and Norwegian data (libtesseract-dev, tesseract-ocr-eng, -nor); its tests
# render text with PIL (python3-pil) in DejaVu fonts (fonts-dejavu-core) and
# read masked outputs back with the tesseract command (tesseract-ocr).
# tests/e2e/test_orthanc.py sends a woman's studies from the mount to
# Debian's Orthanc (orthanc), which it starts itself on loopback ports of
# its own; the package's system service is not used (and is not started
# in a container).
# tests/e2e/test_slurm.py runs a one-node Slurm cluster (slurm-wlm, munge).
set -eu

PKGS="build-essential pkg-config libgdcm-dev libgdcm-tools libfuse3-dev fuse3
zlib1g-dev libsqlite3-dev libcsv-dev libcmocka-dev dcmtk dicom3tools python3
python3-pydicom python3-numpy python3-pytest rsync bindfs sqlite3 clang valgrind
libclang-rt-14-dev bash-completion groff-base man-db debhelper
lintian libtesseract-dev tesseract-ocr tesseract-ocr-eng tesseract-ocr-nor
python3-pil fonts-dejavu-core orthanc slurm-wlm munge"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "deidfs: installing:$missing" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
case " $missing " in
*" orthanc "*)
	# the tests start an Orthanc of their own: the service the package
	# enables (a PACS on ports 4242 and 8042) is not wanted
	if [ -d /run/systemd/system ]; then
		$SUDO systemctl disable --now orthanc >/dev/null 2>&1 || true
	fi
	;;
esac
