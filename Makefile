# pvm6: a thin layer over cargo. `make demo` builds everything and runs the
# hello example on the embedded single-host machine; `make check` runs every
# test.

CARGO ?= cargo
LIBDIR := target/release
DEMO_TMP := $(CURDIR)/target/demo

.PHONY: all build demo check test lint clean bench-groups

all: build

build:
	$(CARGO) build --release
	ln -sf libpvm3.so $(LIBDIR)/libpvm3.so.3
	$(MAKE) -C examples-c PVM_LIB=$(CURDIR)/$(LIBDIR) PVM_INC=$(CURDIR)/include

# hello spawns hello_other, found in $(DEMO_TMP)/home/pvm3/bin/LINUX64 like
# PVM's default search path; no daemon is started by hand: the library does it.
demo: build
	rm -rf $(DEMO_TMP) && mkdir -p $(DEMO_TMP)/home/pvm3/bin/LINUX64 $(DEMO_TMP)/tmp
	cp examples-c/build/hello_other $(DEMO_TMP)/home/pvm3/bin/LINUX64/
	HOME=$(DEMO_TMP)/home PVM_TMP=$(DEMO_TMP)/tmp PVM_ROOT=$(DEMO_TMP)/home/pvm3 \
		./examples-c/build/hello ; rc=$$? ; \
		kill `cat $(DEMO_TMP)/tmp/pvm6.*/pvmd.pid 2>/dev/null` 2>/dev/null ; exit $$rc

# Barrier and reduce latency, 2..32 tasks, against PVM 3.4.6 + pvmgs when installed.
bench-groups: build
	sh benches/groups.sh

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

check: build lint
	$(CARGO) test --release

test: check

clean:
	$(CARGO) clean
	$(MAKE) -C examples-c clean
