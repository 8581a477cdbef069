# maepipe: masked-image-modeling pretraining as Unix filters.
#
#   make            build libmae and every program into $(B)/ (default build/)
#   make test       build and run the whole test suite (TAP, through prove)
#   make asan       the same tests under AddressSanitizer and UBSan, in build/asan
#   make main       the main job: pretrain on Fashion-MNIST, evaluate, draw (pipelines/main.sh)
#   make bench      benchmarks (long; not part of the tests)
#   make fuzz       libFuzzer on the readers, FUZZ_SECONDS (60) a target (needs clang; tests/fuzz/run.sh)
#   make deps       install the Debian packages the project and its tests need
#   make install    programs into $(PREFIX)/bin, man pages into $(MANPREFIX)
#
# Sources are found by wildcard: lib/*/*.c is libmae (one folder per concern, see mae(7)
# LAYOUT), bin/mae-*.c are the programs (one file
# each), tests/unit/*.c are C unit tests (each prints TAP), tests/*.t are shell tests.

B         ?= build
PREFIX    ?= /usr/local
MANPREFIX ?= $(PREFIX)/share/man
CC        ?= cc
OPT       ?= -O3 -march=native
SAN       ?=

PKGS      := libzmq msgpack libpng
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS  := $(shell pkg-config --libs libzmq 2>/dev/null || echo -lzmq) \
             $(shell pkg-config --libs msgpack-c 2>/dev/null || pkg-config --libs msgpack 2>/dev/null || echo -lmsgpackc) \
             $(shell pkg-config --libs libpng 2>/dev/null || echo -lpng16)

# -fno-math-errno: nothing here reads errno after a math call, and with errno sqrtf cannot be
# vectorised (AdamW's update loop stayed scalar); the results are the same IEEE operations.
INCLUDES   = -Iinclude -Ilib -I/usr/include/x86_64-linux-gnu/openblas-pthread $(PKG_CFLAGS)
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror=implicit-function-declaration -fno-math-errno -g $(OPT) $(SAN) -pthread \
             $(INCLUDES) $(CFLAGS)
LDLIBS_ALL = $(PKG_LIBS) -lopenblas -lturbojpeg -ljpeg -lz -lm -lpthread $(LDLIBS)

LIBSRC  := $(sort $(wildcard lib/*/*.c))
# ar names an archive's members by their base names (and the fuzz build flattens its objects):
# two lib/ files of one name would shadow each other
LIBDUPS := $(shell printf '%s\n' $(notdir $(LIBSRC)) | sort | uniq -d)
$(if $(LIBDUPS),$(error lib/: two sources share the name $(LIBDUPS); give each a distinct one))
LIBOBJ  := $(LIBSRC:%.c=$(B)/obj/%.o)
PROGS   := $(patsubst bin/%.c,$(B)/bin/%,$(sort $(wildcard bin/mae-*.c)))
UNITS   := $(patsubst tests/unit/%.c,$(B)/tests/%,$(sort $(wildcard tests/unit/*.c)))
# the unit tests' oracles: reference code written from the definitions, not part of libmae
ORACLES := $(patsubst %.c,$(B)/obj/%.o,$(sort $(wildcard tests/oracle/*.c)))
MAN1    := $(sort $(wildcard man/man1/*.1))
MAN5    := $(sort $(wildcard man/man5/*.5))
MAN7    := $(sort $(wildcard man/man7/*.7))

.PHONY: all test check asan bench fuzz deps install uninstall clean units main
.SUFFIXES:
.SECONDARY:

all: $(B)/libmae.a $(PROGS)

# objects are rebuilt when the flags here change
$(B)/obj/%.o: %.c Makefile
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(B)/libmae.a: $(LIBOBJ)
	@mkdir -p $(@D)
	rm -f $@
	ar rcs $@ $^

$(B)/bin/%: $(B)/obj/bin/%.o $(B)/libmae.a
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(B)/libmae.a $(LDLIBS_ALL)

$(B)/tests/%: $(B)/obj/tests/unit/%.o $(ORACLES) $(B)/libmae.a
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(ORACLES) $(B)/libmae.a $(LDLIBS_ALL)

units: $(UNITS)

# The suite: C unit tests and shell stage tests, two at a time (the machines have 2 cores).
test check: all units
	MAE_BUILD=$(abspath $(B)) prove -j2 --timer $(UNITS) $(sort $(wildcard tests/*.t))

asan:
	$(MAKE) B=build/asan OPT="-O1 -march=native" \
	  SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" test

# The main job: MAE pretraining on Fashion-MNIST and its evaluation (pipelines/main.sh).
main: all
	MAE_BUILD=$(abspath $(B)) sh pipelines/main.sh

bench: all
	MAE_BUILD=$(abspath $(B)) sh bench/run.sh

# Coverage-guided fuzzing of the readers (record, safetensors, IDX, tar shards, JPEG/PNG) under ASan and UBSan.
fuzz: all
	MAE_BUILD=$(abspath $(B)) FUZZ_INCLUDES="$(INCLUDES)" FUZZ_LIBS="$(LDLIBS_ALL)" sh tests/fuzz/run.sh

deps:
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$(cat deps.txt)

install: all
	mkdir -p $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(MANPREFIX)/man1 $(DESTDIR)$(MANPREFIX)/man5 $(DESTDIR)$(MANPREFIX)/man7
	cp $(PROGS) $(DESTDIR)$(PREFIX)/bin/
	cp $(MAN1) $(DESTDIR)$(MANPREFIX)/man1/
	cp $(MAN5) $(DESTDIR)$(MANPREFIX)/man5/
	cp $(MAN7) $(DESTDIR)$(MANPREFIX)/man7/

uninstall:
	for p in $(PROGS); do rm -f $(DESTDIR)$(PREFIX)/bin/$$(basename $$p); done

clean:
	rm -rf $(B)

-include $(LIBOBJ:.o=.d) $(PROGS:$(B)/bin/%=$(B)/obj/bin/%.d) $(UNITS:$(B)/tests/%=$(B)/obj/tests/unit/%.d)
