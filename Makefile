# Gale. Two commands do everything on a fresh Debian machine (root or sudo):
#   make run    install what is missing, build in release, start the main program
#   make test   install what is missing, run every test (C, Swift, CLI, fuzz)
# Other targets: build, bench (benchmarks, ~25 min; not a test), fuzz-long, install, clean.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
SWIFT ?= swift
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 30
PREFIX ?= /usr/local
# The main program `make run` starts, with its arguments.
RUN_CMD ?= .build/release/hello-server

.PHONY: run build bench deps deps-test test test-c test-c-asan test-consumer test-swift test-swift-release test-cli fuzz fuzz-long install clean

run: deps build
	$(RUN_CMD)

# Release binaries carry the Swift runtime (--static-swift-stdlib): they run on machines without
# a Swift toolchain, start faster, and touch fewer pages (-3 MiB RSS, -4% instructions/request).
build:
	$(SWIFT) build -c release --static-swift-stdlib

deps:
	scripts/deps.sh run

# Every benchmark beside its peers (../shared/bench), then one summary table: bench/all.sh.
# Never run by `make test`; nothing in it is a pass/fail timing. QUICK=1 for a short run.
bench:
	scripts/deps.sh bench
	bench/all.sh

deps-test:
	scripts/deps.sh test

test: deps-test test-c test-c-asan test-consumer test-swift test-swift-release test-cli fuzz
	@echo "make test: all passed"

# libcore alone, as C consumers get it: warnings are errors; every test also under valgrind.
test-c:
	cmake -S . -B build/c -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGALE_VALGRIND=ON -DGALE_WERROR=ON >/dev/null
	cmake --build build/c -j$(JOBS)
	cd build/c && ctest --output-on-failure -j$(JOBS)

# The same tests under AddressSanitizer and UndefinedBehaviorSanitizer (clang).
test-c-asan:
	CC=clang LDFLAGS=-fuse-ld=lld cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DGALE_SANITIZE=ON -DGALE_WERROR=ON >/dev/null
	cmake --build build/asan -j$(JOBS)
	cd build/asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j$(JOBS) -L c

# Install libcore into a scratch prefix and build a program against it with pkg-config,
# linked shared and static.
test-consumer: test-c
	rm -rf build/prefix && cmake --install build/c --prefix $(CURDIR)/build/prefix >/dev/null
	PKG_CONFIG_PATH=$(CURDIR)/build/prefix/lib/pkgconfig; export PKG_CONFIG_PATH; \
	  cc -Wall -Werror -o build/consumer-shared Tests/c/consumer/consumer.c $$(pkg-config --cflags --libs core); \
	  cc -Wall -Werror -static-libgcc -o build/consumer-static Tests/c/consumer/consumer.c $$(pkg-config --cflags core) \
	     -Wl,-Bstatic -lcore -Wl,-Bdynamic -L$(CURDIR)/build/prefix/lib $$(pkg-config --libs-only-l --static libevent_pthreads) -lpthread
	readelf -d build/prefix/lib/libcore.so | grep -q 'SONAME.*libcore.so.0'
	LD_LIBRARY_PATH=$(CURDIR)/build/prefix/lib build/consumer-shared
	build/consumer-static

# Swift: the package must build with no warnings from our code (Swift 6 language mode).
test-swift:
	mkdir -p build
	$(SWIFT) build --build-tests 2>&1 | tee build/swift-build.log
	@if grep -E "^$(CURDIR)/(Sources|Tests)/.*(warning|error):" build/swift-build.log; then \
	  echo "Swift warnings in Gale's code (listed above)"; exit 1; fi
	$(SWIFT) test

# The same tests optimized, as users run Gale: undefined behaviour that a debug build hides
# (a pointer kept past its closure) shows here.
test-swift-release:
	$(SWIFT) test -c release

# The gale command and hello-server against Python peers, the real Tornado, curl, requests.
test-cli:
	$(SWIFT) build --product gale
	$(SWIFT) build --product hello-server
	GALE_BIN=$(CURDIR)/.build/debug/gale HELLO_BIN=$(CURDIR)/.build/debug/hello-server \
	  python3 -m unittest discover -s Tests/cli -v

# The HTTP parser fuzzer, for a bounded time (make fuzz-long for an hour).
fuzz:
	CC=clang LDFLAGS=-fuse-ld=lld cmake -S . -B build/fuzz -DCMAKE_BUILD_TYPE=Debug -DGALE_FUZZ=ON >/dev/null
	cmake --build build/fuzz -j$(JOBS) --target fuzz_http_parser
	rm -rf build/fuzz/corpus && mkdir -p build/fuzz/corpus && cp Tests/fuzz/corpus/http_parser/* build/fuzz/corpus/
	build/fuzz/fuzz_http_parser -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 build/fuzz/corpus 2>&1 | tail -5

fuzz-long:
	$(MAKE) fuzz FUZZ_SECONDS=3600

install: build
	cmake -S . -B build/c -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build build/c -j$(JOBS)
	cmake --install build/c --prefix $(PREFIX)

clean:
	rm -rf build .build
