# deidfs - see README.md.  `make` builds build/deidfs; `make check` runs all
# tests (unit tests in C with cmocka, end-to-end tests with pytest).

CC      ?= cc
CXX     ?= c++
BUILD   ?= build
CFLAGS  ?= -O2 -g
CXXFLAGS ?= -O2 -g
WARN    := -Wall -Wextra -Wformat=2 -Wshadow -Wno-unused-parameter
CPPFLAGS += $(DEFS) -Iinclude -Ifs -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 \
	    $(shell pkg-config --cflags fuse3)
ALL_CFLAGS   := -std=c11 $(WARN) -pthread $(CFLAGS)
ALL_CXXFLAGS := -std=c++14 $(WARN) -pthread -I/usr/include/gdcm-3.0 $(CXXFLAGS)
GDCM_LIBS := -lgdcmMSFF -lgdcmDSED -lgdcmDICT -lgdcmCommon -lgdcmIOD
# Every binary carries the linker's build ID (a hash of the linked code):
# a view kept in the db is loaded only by the very code that built it
# (fs/view_snap.c).  GCC passes it by default on Debian; clang may not.
LINK_ID := -Wl,--build-id=sha1
LIBS := $(GDCM_LIBS) -lz -lsqlite3 -lcsv $(shell pkg-config --libs fuse3) \
	-lstdc++ -lpthread -lm

# The front ends (README: "Layout of the code"); everything else in fs/ is
# the core library that they and the tests link.
FRONT_C := fs/main.c fs/cli_opts.c fs/places.c fs/export.c \
	   fs/export_write.c fs/export_dirs.c fs/mount.c \
	   fs/mount_ops.c fs/mount_read.c fs/mtloop.c fs/log.c fs/verify.c \
	   fs/verify_file.c fs/verify_walk.c fs/verify_report.c fs/lookup.c \
	   fs/shard_run.c fs/shard_tasks.c fs/shard_index.c fs/shard_merge.c \
	   fs/shard_export.c fs/shard_log.c fs/shard_finish.c
CORE_C  := $(filter-out $(FRONT_C),$(wildcard fs/*.c))
CORE_O  := $(patsubst fs/%.c,$(BUILD)/%.o,$(CORE_C)) $(BUILD)/dicom.o
FRONT_O := $(patsubst fs/%.c,$(BUILD)/%.o,$(filter $(wildcard fs/*.c),$(FRONT_C)))
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))

.PHONY: all unit check e2e clean demo asan tsan spantest install uninstall
all: $(BUILD)/deidfs $(BUILD)/mount.fuse.deidfs

# Installation (README: "Install"): the binary, the man pages, bash
# completion, the mount helper and the Slurm wrapper (deidfs-slurm, which
# runs the deidfs installed beside it).  mount(8) looks for helpers in /sbin
# only, so MOUNTHELPERDIR does not follow PREFIX.
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
MOUNTHELPERDIR ?= /sbin
INSTALL ?= install

# The helper runs deidfs from where it is installed: BINDIR is written in.
$(BUILD)/mount.fuse.deidfs: dist/mount.fuse.deidfs.in | $(BUILD)
	sed 's|@BINDIR@|$(BINDIR)|g' $< > $@.tmp && chmod 755 $@.tmp && mv $@.tmp $@
.PHONY: $(BUILD)/mount.fuse.deidfs	# BINDIR may differ from the last run

install: all
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(BASHCOMPDIR) \
		$(DESTDIR)$(MOUNTHELPERDIR)
	$(INSTALL) -m 755 $(BUILD)/deidfs $(DESTDIR)$(BINDIR)/deidfs
	$(INSTALL) -m 755 scripts/deidfs-slurm $(DESTDIR)$(BINDIR)/deidfs-slurm
	$(INSTALL) -m 644 dist/deidfs.1 $(DESTDIR)$(MANDIR)/man1/deidfs.1
	$(INSTALL) -m 644 dist/deidfs-slurm.1 \
		$(DESTDIR)$(MANDIR)/man1/deidfs-slurm.1
	$(INSTALL) -m 644 dist/mount.fuse.deidfs.8 \
		$(DESTDIR)$(MANDIR)/man8/mount.fuse.deidfs.8
	$(INSTALL) -m 644 dist/deidfs.bash-completion \
		$(DESTDIR)$(BASHCOMPDIR)/deidfs
	$(INSTALL) -m 755 $(BUILD)/mount.fuse.deidfs \
		$(DESTDIR)$(MOUNTHELPERDIR)/mount.fuse.deidfs

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/deidfs $(DESTDIR)$(MANDIR)/man1/deidfs.1 \
		$(DESTDIR)$(BINDIR)/deidfs-slurm \
		$(DESTDIR)$(MANDIR)/man1/deidfs-slurm.1 \
		$(DESTDIR)$(MANDIR)/man8/mount.fuse.deidfs.8 \
		$(DESTDIR)$(BASHCOMPDIR)/deidfs \
		$(DESTDIR)$(MOUNTHELPERDIR)/mount.fuse.deidfs

$(BUILD)/%.o: fs/%.c $(wildcard include/*.h fs/*.h) | $(BUILD)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

# The scan's pixel loops (min and max per column, per cell): -O2's cost
# model leaves them scalar; vectorised, the grid pass of a 4096x3328
# mammogram took 15-19 ms instead of 37 ms and more (BENCHMARKS.md).
# (GCC's option; clang vectorises them at -O2 as it is.)
$(BUILD)/scan_image.o: ALL_CFLAGS += $(if $(findstring clang,$(CC)),,-fvect-cost-model=dynamic)

$(BUILD)/tables.o: fs/data/annex-e.tsv fs/data/safe-private.tsv fs/data/safe-text.tsv \
	fs/data/cs-terms.tsv

# The PS3.3 module and IOD tables GDCM ships, turned into C at build time
# (scripts/gen_iod.py); the generated file is not committed.
PART3_XML ?= /usr/share/gdcm-3.0/XML/Part3.xml
$(BUILD)/iod_table.inc: scripts/gen_iod.py $(PART3_XML) | $(BUILD)
	/usr/bin/python3 scripts/gen_iod.py $(PART3_XML) $@
$(BUILD)/iod.o: $(BUILD)/iod_table.inc
$(BUILD)/iod.o: CPPFLAGS += -I$(BUILD)

$(BUILD)/dicom.o: fs/dicom.cpp $(wildcard include/*.h fs/*.h) | $(BUILD)
	$(CXX) $(CPPFLAGS) $(ALL_CXXFLAGS) -c -o $@ $<

$(BUILD)/libdeidfs.a: $(CORE_O)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/deidfs: $(FRONT_O) $(BUILD)/libdeidfs.a
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) $(LINK_ID) -o $@ $(FRONT_O) $(BUILD)/libdeidfs.a $(LIBS)

# the tests' shared headers (tests/unit/*.h) too: a change rebuilds them
$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libdeidfs.a \
		  $(wildcard tests/unit/*.h) | $(BUILD)/tests
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(LDFLAGS) $(LINK_ID) -o $@ $< $(BUILD)/libdeidfs.a $(LIBS) -lcmocka

$(BUILD) $(BUILD)/tests:
	mkdir -p $@

unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; $$t; done

e2e: $(BUILD)/deidfs
	DEIDFS=$(abspath $(BUILD)/deidfs) /usr/bin/python3 -m pytest -q tests/e2e

check: unit e2e

# The same sources and tests under sanitizers, in their own build dirs.
# ASan+UBSan runs everything (CI does); TSan the threaded paths: the unit
# tests and the end-to-end tests of export, mount and the mount under load.
#
# Every report goes to a file under build/<san>/reports (log_path, one file
# per process), also from the mount daemon, whose stderr is /dev/null once
# it is in the background; after the tests the rule fails if any report
# exists, whatever pytest said.  ASan+UBSan is built with clang: gcc puts
# UBSan in a runtime of its own that ignores log_path, so a UBSan report of
# the daemon would be lost.  TSan stays with gcc (log_path works there).
SAN_COMMON := -O1 -g -fno-omit-frame-pointer
ASAN_FLAGS := $(SAN_COMMON) -fsanitize=address,undefined -fno-sanitize-recover=all
TSAN_FLAGS := $(SAN_COMMON) -fsanitize=thread
ASAN_CC ?= clang
ASAN_CXX ?= clang++
ASAN_LOG := $(abspath build/asan/reports)
TSAN_LOG := $(abspath build/tsan/reports)
# $(call san_run,LOGDIR,COMMAND): run COMMAND; fail if it failed or if a
# sanitizer wrote a report under LOGDIR meanwhile (printed).
san_run = rm -rf $(1) && mkdir -p $(1) && { $(2); rc=$$?; \
	if [ -n "$$(ls -A $(1))" ]; then cat $(1)/* >&2; \
	echo "sanitizer reports above (files in $(1))" >&2; exit 1; fi; \
	exit $$rc; }
asan:
	@# objects of another compiler (an older gcc build) do not link here
	@[ -f build/asan/.cc-$(ASAN_CC) ] || rm -rf build/asan
	$(MAKE) BUILD=build/asan CC=$(ASAN_CC) CXX=$(ASAN_CXX) \
		CFLAGS="$(ASAN_FLAGS)" CXXFLAGS="$(ASAN_FLAGS)" \
		LDFLAGS="-fsanitize=address,undefined -fsanitize-link-c++-runtime" \
		all unit
	@touch build/asan/.cc-$(ASAN_CC)
	@$(call san_run,$(ASAN_LOG),\
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:log_path=$(ASAN_LOG)/asan \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$(ASAN_LOG)/asan \
	DEIDFS_MIN_COPIES=20 \
	DEIDFS=$(abspath build/asan/deidfs) /usr/bin/python3 -m pytest -q tests/e2e)
tsan:
	$(MAKE) BUILD=build/tsan CFLAGS="$(TSAN_FLAGS)" CXXFLAGS="$(TSAN_FLAGS)" \
		LDFLAGS="-fsanitize=thread" all unit
	@$(call san_run,$(TSAN_LOG),\
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:log_path=$(TSAN_LOG)/tsan \
	DEIDFS=$(abspath build/tsan/deidfs) /usr/bin/python3 -m pytest -q \
		tests/e2e/test_export.py tests/e2e/test_mount.py \
		tests/e2e/test_stress.py)

# valgrind over the C unit tests of the normal build: any invalid access,
# use of uninitialised memory or leak (definite, indirect, possible) fails.
.PHONY: valgrind
VALGRIND := valgrind -q --error-exitcode=1 --leak-check=full \
	--errors-for-leak-kinds=definite,indirect,possible
valgrind: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== valgrind $$t"; \
		$(VALGRIND) $$t; done

# libFuzzer targets (clang): see tests/fuzz/.
-include tests/fuzz/fuzz.mk

clean:
	rm -rf $(BUILD)

# A build whose view_map_read() turns every source span into bytes 'S'
# (fs/view_content.c): test_golden.py checks that export and mount both
# change, i.e. that both produce every byte through that one function.
spantest:
	$(MAKE) BUILD=build/spantest DEFS=-DDEIDFS_SPAN_TEST build/spantest/deidfs

# A build whose scan worker crashes or spins on pixel data that starts
# with CRASH!!! or HANGHANG (fs/scan_worker.c): test_burnin.py shows that
# either costs that file only.
.PHONY: scantest
scantest:
	$(MAKE) BUILD=build/scantest DEFS=-DDEIDFS_SCAN_FAULTS build/scantest/deidfs
