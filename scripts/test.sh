#!/bin/sh
# All the tests, on a fresh Debian 12 machine: installs the packages, builds,
# runs the C unit tests and the end-to-end tests (real FUSE mounts).
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh
make -j"$(nproc)" all
make unit
make e2e
