# deidfs - see README.md.  `make` builds build/deidfs; `make check` runs all
# tests (unit tests in C with cmocka, end-to-end tests with pytest).

CC      ?= cc
CXX     ?= c++
BUILD   ?= build
CFLAGS  ?= -O2 -g
CXXFLAGS ?= -O2 -g
WARN    := -Wall -Wextra -Wformat=2 -Wshadow -Wno-unused-parameter
CPPFLAGS += -Iinclude -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 \
	    $(shell pkg-config --cflags fuse3)
ALL_CFLAGS   := -std=c11 $(WARN) -pthread $(CFLAGS)
ALL_CXXFLAGS := -std=c++14 $(WARN) -pthread -I/usr/include/gdcm-3.0 $(CXXFLAGS)
GDCM_LIBS := -lgdcmMSFF -lgdcmDSED -lgdcmDICT -lgdcmCommon -lgdcmIOD
LIBS := $(GDCM_LIBS) -lz -lsqlite3 -lcsv $(shell pkg-config --libs fuse3) \
	-lstdc++ -lpthread -lm

CORE_C  := $(filter-out fs/main.c fs/export.c fs/mount.c,$(wildcard fs/*.c))
CORE_O  := $(patsubst fs/%.c,$(BUILD)/%.o,$(CORE_C)) $(BUILD)/dicom.o
FRONT_O := $(patsubst fs/%.c,$(BUILD)/%.o,$(filter $(wildcard fs/*.c),fs/main.c fs/export.c fs/mount.c))
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))

.PHONY: all unit check e2e clean demo
all: $(BUILD)/deidfs

$(BUILD)/%.o: fs/%.c $(wildcard include/*.h) | $(BUILD)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/tables.o: fs/data/annex-e.tsv fs/data/safe-private.tsv fs/data/safe-text.tsv

$(BUILD)/dicom.o: fs/dicom.cpp include/dicom.h include/dcm.h | $(BUILD)
	$(CXX) $(CPPFLAGS) $(ALL_CXXFLAGS) -c -o $@ $<

$(BUILD)/libdeidfs.a: $(CORE_O)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/deidfs: $(FRONT_O) $(BUILD)/libdeidfs.a
	$(CC) $(ALL_CFLAGS) -o $@ $(FRONT_O) $(BUILD)/libdeidfs.a $(LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libdeidfs.a | $(BUILD)/tests
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libdeidfs.a $(LIBS) -lcmocka

$(BUILD) $(BUILD)/tests:
	mkdir -p $@

unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; $$t; done

e2e: $(BUILD)/deidfs
	DEIDFS=$(abspath $(BUILD)/deidfs) /usr/bin/python3 -m pytest -q tests/e2e

check: unit e2e

clean:
	rm -rf $(BUILD)
