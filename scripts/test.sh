#!/bin/sh
# All the tests, on a fresh Debian 12 machine: installs the packages, builds
# (warnings are errors), runs the C unit tests (also under valgrind), a short
# smoke run of every fuzz target, the end-to-end tests against real FUSE
# mounts, the Debian package (built, installed, mounted from an fstab line,
# removed), and everything again under ASan+UBSan.
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh
make -j"$(nproc)" CFLAGS="-O2 -g -Werror" CXXFLAGS="-O2 -g -Werror" all
make CFLAGS="-O2 -g -Werror" CXXFLAGS="-O2 -g -Werror" unit
make valgrind
scripts/fuzz.sh --smoke
make e2e
scripts/test-deb.sh	# the .deb: build, lintian, install, mount from fstab, remove
make -j"$(nproc)" asan	# ASan+UBSan (clang): unit + all e2e; reports of any process fail it
