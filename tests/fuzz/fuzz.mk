# libFuzzer targets (clang): one per parser of outside data.  Included by the
# Makefile.  `make fuzz` builds build/fuzz/fuzz_*; scripts/fuzz.sh runs them.
# The core is compiled again with clang under ASan+UBSan and libFuzzer's
# coverage instrumentation (fs/dicom.cpp with clang++); GDCM, sqlite and
# libcsv are the system's, uninstrumented.

FUZZ_CC  ?= clang
FUZZ_CXX ?= clang++
FUZZ_DIR := build/fuzz
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_FLAGS := -O1 -g -fno-omit-frame-pointer $(FUZZ_SAN) \
	-fsanitize=fuzzer-no-link
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN := $(addprefix $(FUZZ_DIR)/,$(FUZZ_TARGETS))
FUZZ_CORE_O := $(patsubst fs/%.c,$(FUZZ_DIR)/%.o,$(CORE_C)) \
	$(FUZZ_DIR)/dicom.o

.PHONY: fuzz
# keep the objects: they are intermediate files of pattern rules
.SECONDARY: $(FUZZ_CORE_O) $(patsubst %,$(FUZZ_DIR)/%.o,$(FUZZ_TARGETS))
fuzz: $(FUZZ_BIN)

$(FUZZ_DIR):
	mkdir -p $@

$(FUZZ_DIR)/%.o: fs/%.c $(wildcard include/*.h fs/*.h) | $(FUZZ_DIR)
	$(FUZZ_CC) $(CPPFLAGS) -std=c11 $(WARN) -pthread $(FUZZ_FLAGS) \
		-c -o $@ $<

$(FUZZ_DIR)/tables.o: fs/data/annex-e.tsv fs/data/safe-private.tsv \
	fs/data/safe-text.tsv fs/data/cs-terms.tsv
$(FUZZ_DIR)/iod_table.inc: scripts/gen_iod.py $(PART3_XML) | $(FUZZ_DIR)
	/usr/bin/python3 scripts/gen_iod.py $(PART3_XML) $@
$(FUZZ_DIR)/iod.o: $(FUZZ_DIR)/iod_table.inc
$(FUZZ_DIR)/iod.o: CPPFLAGS += -I$(FUZZ_DIR)

$(FUZZ_DIR)/dicom.o: fs/dicom.cpp $(wildcard include/*.h fs/*.h) | $(FUZZ_DIR)
	$(FUZZ_CXX) $(CPPFLAGS) -std=c++14 $(WARN) -pthread \
		-isystem /usr/include/gdcm-3.0 $(FUZZ_FLAGS) -c -o $@ $<

$(FUZZ_DIR)/fuzz_%.o: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_common.h \
	$(wildcard include/*.h) | $(FUZZ_DIR)
	$(FUZZ_CC) $(CPPFLAGS) -std=c11 $(WARN) -pthread $(FUZZ_FLAGS) \
		-c -o $@ $<

$(FUZZ_DIR)/fuzz_%: $(FUZZ_DIR)/fuzz_%.o $(FUZZ_CORE_O)
	$(FUZZ_CXX) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(LIBS)
