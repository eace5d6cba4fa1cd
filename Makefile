# pvm6: a thin layer over cargo. `make demo` builds everything and runs the
# hello example on the embedded single-host machine; `make check` runs every
# test.

CARGO ?= cargo
LIBDIR := target/release
DEMO_TMP := $(CURDIR)/target/demo

.PHONY: all build demo setup check test lint clean install uninstall bench-groups bench bench-startup

all: build

build:
	$(CARGO) build --release
	ln -sf libpvm3.so $(LIBDIR)/libpvm3.so.3
	# -lfpvm3 -lgpvm3 link lines: empty archives, the code is in libpvm3
	sh tools/mkthinlib.sh $(LIBDIR) fpvm3 gpvm3
	$(MAKE) -C examples-c PVM_LIB=$(CURDIR)/$(LIBDIR) PVM_INC=$(CURDIR)/include

# hello spawns hello_other, found in $(DEMO_TMP)/home/pvm3/bin/LINUX64 like
# PVM's default search path; no daemon is started by hand: the library does it.
demo: build
	rm -rf $(DEMO_TMP) && mkdir -p $(DEMO_TMP)/home/pvm3/bin/LINUX64 $(DEMO_TMP)/tmp
	cp examples-c/hello_other $(DEMO_TMP)/home/pvm3/bin/LINUX64/
	HOME=$(DEMO_TMP)/home PVM_TMP=$(DEMO_TMP)/tmp PVM_ROOT=$(DEMO_TMP)/home/pvm3 \
		./examples-c/hello ; rc=$$? ; \
		kill `cat $(DEMO_TMP)/tmp/pvm6.*/pvmd.pid 2>/dev/null` 2>/dev/null ; exit $$rc

# Barrier and reduce latency, 2..32 tasks, against PVM 3.4.6 + pvmgs when installed.
bench-groups: build
	sh benches/groups.sh

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

# What the tests need beyond cargo, gcc and make (tools/debian-packages):
# installed by tools/setup.sh as root, else named in a banner, and the tests
# that need it skip loudly.  Silent when nothing is missing.
setup:
	sh tools/setup.sh

check:
	sh tools/setup.sh
	$(MAKE) build
	$(MAKE) lint
	$(CARGO) test --release

test: check

# make install PVM_ROOT=DIR   the classic PVM tree (include/, lib/LINUX64/, ...)
# make install PREFIX=DIR     FHS layout (PREFIX defaults to /usr/local); DESTDIR honoured
# make uninstall PVM_ROOT=DIR | PREFIX=DIR   removes what install put there
# Run `make build` first (as yourself): install copies what it built, from
# BUILDDIR (default $CARGO_TARGET_DIR/release or target/release).
# PVM_ROOT counts only when given on make's command line: the PVM_ROOT that
# PVM users keep in their environment does not select the classic layout.
PREFIX ?= /usr/local
ifeq ($(origin PVM_ROOT),command line)
INSTALL_WHERE := PVM_ROOT="$(PVM_ROOT)"
ifeq ($(origin PREFIX),command line)
INSTALL_WHERE += PREFIX="$(PREFIX)"
endif
else
INSTALL_WHERE := PREFIX="$(PREFIX)"
endif

install uninstall:
	sh tools/install.sh $@ $(INSTALL_WHERE) DESTDIR="$(DESTDIR)" BUILDDIR="$(BUILDDIR)" \
		LDCONFIG="$(or $(LDCONFIG),ldconfig)"

clean:
	$(CARGO) clean
	$(MAKE) -C examples-c clean

# NetPIPE-style latency/bandwidth (every route x packing, Debian's NPpvm on
# PVM 3.4.6 and on pvm6, NPtcp), spawn/memory/idle-CPU figures, then the same
# between two namespace hosts plus 16 hosts added at once (as root, with sshd;
# skipped with a message otherwise; TWOHOST=0 skips it): table on stdout, CSV,
# bandwidth.png and bandwidth-twohost.png in target/bench/. See docs/PERFORMANCE.md.
bench: build
	sh benches/netpipe/run.sh
	$(MAKE) bench-startup

# Start-up: one pvm_addhosts of 64 namespace hosts on pvm6 (plain and with
# the tree start-up) and on PVM 3.4.6, the ssh floor, the tree's rounds for
# up to 256 hosts (as root, with sshd; STARTUP=0 skips it): table on stdout,
# target/bench/startup.csv. See docs/LAUNCH.md "Start-up speed".
bench-startup: build
	@if [ "$${STARTUP:-1}" = 1 ]; then cargo bench -q --bench startup -- target/bench; fi
