# wsnative build and test entry points. `make demo` and `make test` work on a
# fresh machine with Rust, Python 3, gcc and make: `make test` first runs
# `make deps` (scripts/deps.sh), which installs what the tests need.

CARGO   ?= cargo
CC      ?= gcc
PYTHON  ?= python3
BUILD   := build
RELEASE := target/release
CFLAGS  ?= -O2 -g
CWARN   := -Wall -Wextra -Werror -std=c11 -D_POSIX_C_SOURCE=200809L
LIBS    := -lpthread -ldl -lm
CXX     ?= g++
CXXWARN := -Wall -Wextra -Werror -std=c++17
CBINDGEN_VERSION := 0.29.4

.PHONY: all deps lib install uninstall test-install wheel demo chat-demo chat-test test test-rust test-c test-c-valgrind test-cpp test-cpp-valgrind test-python test-csharp test-readme test-browser fuzz lint header header-check autobahn autobahn-quick bench bench-tls-setup clean

all: lib

# Test tools: valgrind, chromium, openssl, tinyproxy, microsocks,
# nlohmann-json3-dev, mono (apt),
# cbindgen and cargo-fuzz
# (cargo). Idempotent; nothing happens when all are there.
deps:
	@bash scripts/deps.sh

# The shared library carries the SONAME libwsnative.so.0 (ffi/build.rs), so
# programs linked with it here load libwsnative.so.0: the link beside it lets
# them run in place, as `make install` lets them run installed.
lib:
	$(CARGO) build --release -p wsnative -p wsnative-testserver
	ln -sf libwsnative.so $(RELEASE)/libwsnative.so.0

$(BUILD):
	mkdir -p $(BUILD)

# Installs the C library (scripts/install.sh says what goes where): the shared
# library with its SONAME libwsnative.so.0 and links, the static library, the
# headers, wsnative.pc (pkg-config) and the CMake package (find_package).
# DESTDIR stages the tree for packaging; the files name PREFIX.
PREFIX  ?= /usr/local
LIBDIR  ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DESTDIR ?=
install: lib
	@PREFIX="$(PREFIX)" LIBDIR="$(LIBDIR)" INCLUDEDIR="$(INCLUDEDIR)" DESTDIR="$(DESTDIR)" sh scripts/install.sh install

uninstall:
	@PREFIX="$(PREFIX)" LIBDIR="$(LIBDIR)" INCLUDEDIR="$(INCLUDEDIR)" DESTDIR="$(DESTDIR)" sh scripts/install.sh uninstall

# make install into build/tests-install/stage, then the examples built against
# it with pkg-config and with CMake, and run (tests-install/run.sh).
test-install: deps lib
	@MAKE="$(MAKE)" sh tests-install/run.sh

# Examples link the shared library (rpath set so they run in place).
$(BUILD)/%: examples-c/%.c include/wsnative.h lib | $(BUILD)
	$(CC) $(CFLAGS) $(CWARN) -Iinclude -o $@ $< -L$(RELEASE) -Wl,-rpath,$(CURDIR)/$(RELEASE) -lwsnative $(LIBS)

# The C++ examples (examples-cpp/, include/wsnative.hpp): build/echo_cpp, ...
$(BUILD)/%_cpp: examples-cpp/%.cpp include/wsnative.hpp include/wsnative.h lib | $(BUILD)
	$(CXX) $(CFLAGS) $(CXXWARN) -Iinclude -o $@ $< -L$(RELEASE) -Wl,-rpath,$(CURDIR)/$(RELEASE) -lwsnative $(LIBS)

# Runs the echo example against the bundled test server on a random port.
demo: lib $(BUILD)/echo
	@sh scripts/with-server.sh echo -- $(BUILD)/echo

# The MDN chat client against the bundled chat server (interactive).
chat-demo: lib $(BUILD)/chat
	@sh scripts/with-server.sh chat -- $(BUILD)/chat {URL} $${CHAT_NAME:-$$USER}

# Autobahn client conformance (conformance/README.md): the echo client on the
# C ABI against the kosoku fuzzing server (pinned, in conformance/.venv),
# verdicts compared with conformance/expected.json; reports in build/autobahn/.
# autobahn-update records this run's verdicts as the new expectations.
AUTOBAHN_PY    := conformance/.venv/bin/python
AUTOBAHN_FLAGS ?=

$(BUILD)/autobahn_client: conformance/autobahn_client.c include/wsnative.h lib | $(BUILD)
	$(CC) $(CFLAGS) $(CWARN) -Iinclude -o $@ $< -L$(RELEASE) -Wl,-rpath,$(CURDIR)/$(RELEASE) -lwsnative $(LIBS)

autobahn: lib $(BUILD)/autobahn_client
	sh conformance/setup.sh
	$(AUTOBAHN_PY) conformance/run_autobahn.py --client $(BUILD)/autobahn_client $(AUTOBAHN_FLAGS)

# What `make test` runs: every case but the compression cases with the
# largest messages (conformance/README.md).
autobahn-quick: lib $(BUILD)/autobahn_client
	sh conformance/setup.sh
	$(AUTOBAHN_PY) conformance/run_autobahn.py --client $(BUILD)/autobahn_client --quick $(AUTOBAHN_FLAGS)

autobahn-update: lib $(BUILD)/autobahn_client
	sh conformance/setup.sh
	$(AUTOBAHN_PY) conformance/run_autobahn.py --client $(BUILD)/autobahn_client --update $(AUTOBAHN_FLAGS)

# The chat client, non-interactively: alice sends one message (the server
# strips its HTML tags) and must see it broadcast back; fails unless it exits 0.
chat-test: lib $(BUILD)/chat
	@sh scripts/with-server.sh chat -- $(BUILD)/chat {URL} alice --once "hello <b>world</b>"
	@echo "chat-test: OK"

# C tests (tests-c/, see tests-c/run.sh): AddressSanitizer + UBSan, linked
# with the static library.
test-c: lib
	@sh tests-c/run.sh asan

# The same tests under valgrind memcheck, linked with the shared library.
test-c-valgrind: deps lib
	@sh tests-c/run.sh valgrind

# C++ (include/wsnative.hpp, tests-cpp/): every C++ source compiled once
# more as C++20 (the std::span path), the tests under AddressSanitizer +
# UBSan (tests-c/run.sh, static library), then both examples against the
# bundled servers (chat_cpp needs nlohmann/json: make deps).
CPP_TESTS := test_cpp_api test_cpp_events
test-cpp: deps lib $(BUILD)/echo_cpp $(BUILD)/chat_cpp
	$(CXX) -std=c++20 -Wall -Wextra -Werror -fsyntax-only -Iinclude -Itests-c -Itests-cpp tests-cpp/*.cpp examples-cpp/*.cpp
	@sh tests-c/run.sh asan $(CPP_TESTS)
	@sh scripts/with-server.sh echo -- $(BUILD)/echo_cpp
	@sh scripts/with-server.sh chat -- $(BUILD)/chat_cpp {URL} bob --once "hello <i>from</i> C++"
	@echo "test-cpp: OK"

# The C++ tests under valgrind memcheck, linked with the shared library.
test-cpp-valgrind: deps lib
	@sh tests-c/run.sh valgrind $(CPP_TESTS)

header:
	cbindgen --quiet --config cbindgen.toml --crate wsnative --output include/wsnative.h ffi

header-check: deps
	@cbindgen --version | grep -q "$(CBINDGEN_VERSION)" || { echo "cbindgen $(CBINDGEN_VERSION) required"; exit 1; }
	cbindgen --quiet --config cbindgen.toml --crate wsnative --output $(BUILD)/wsnative.h ffi
	cmp $(BUILD)/wsnative.h include/wsnative.h || { echo "include/wsnative.h is stale: run make header"; exit 1; }

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

test-rust:
	$(CARGO) test --workspace --exclude wsnative-python

# wsnative against headless Chromium (the reference), scenario by scenario,
# in eight columns: C immediate, C queued, Python thread and Python poll
# dispatch, each with the default options and in Chromium-compatible mode
# (tests-browser/differential.py; about a minute).
$(BUILD)/events_client: tests-browser/events_client.c include/wsnative.h lib | $(BUILD)
	$(CC) $(CFLAGS) $(CWARN) -Iinclude -o $@ $< -L$(RELEASE) -Wl,-rpath,$(CURDIR)/$(RELEASE) -lwsnative $(LIBS)

# The Python columns use the package's test venv, which make test-python
# creates (with the wheel of the current sources); without it this fails.
PY_VENV := bindings/python/.venv/bin/python
test-browser: deps $(BUILD)/events_client
	@[ -x $(PY_VENV) ] || { echo "test-browser: no $(PY_VENV): run make test-python first"; exit 1; }
	$(PYTHON) tests-browser/differential.py $(BUILD)/events_client --python $(PY_VENV) \
	  --report $(BUILD)/differential.json

# Coverage-guided fuzzing of every parser of untrusted input (fuzz/run.sh);
# FUZZ_SECONDS per target (8 in make test, which must stay under 20 minutes
# cold; `make fuzz FUZZ_SECONDS=600` for a real campaign).
FUZZ_SECONDS ?= 8
fuzz: deps
	sh fuzz/run.sh $(FUZZ_SECONDS)

# The Python distribution into dist/ (bindings/python/build-wheel.sh): the
# abi3 wheel for CPython 3.9+, tagged manylinux_2_34 (the lowest this glibc
# build allows; `auditwheel show` must confirm it), and the sdist.
DIST := dist
wheel:
	bash bindings/python/build-wheel.sh $(DIST)

# Regenerates bindings/python/symbol-order.txt, the layout of the Python
# extension's code (bindings/python/build.rs): after large code changes.
# Needs valgrind; about two minutes.
.PHONY: python-symbol-order
python-symbol-order:
	bash bindings/python/symbol-order/generate.sh

# The wheel of `make wheel`: every test and the stub check on the machine's
# Python (run-tests.sh), then, in fresh venvs, the tests on the oldest CPython
# it claims (3.9) and on the newest of Debian testing (test-other-pythons.sh,
# interpreters from scripts/debian-python.sh). There the slowest files, the
# flow-control and 10,000-cycle memory tests, are left to make test-wheels,
# which runs everything on both.
PY_OTHER_QUICK := --ignore=$(CURDIR)/bindings/python/tests/test_flow.py \
                  --ignore=$(CURDIR)/bindings/python/tests/test_memory.py
test-python: deps wheel
	WSNATIVE_WHEEL="$$(ls $(DIST)/wsnative-*.whl)" bash bindings/python/run-tests.sh
	bash bindings/python/test-other-pythons.sh "$$(ls $(DIST)/wsnative-*.whl)" oldest -q $(PY_OTHER_QUICK)
	bash bindings/python/test-other-pythons.sh "$$(ls $(DIST)/wsnative-*.whl)" newest -q $(PY_OTHER_QUICK)

.PHONY: test-wheels
test-wheels: deps wheel
	bash bindings/python/test-other-pythons.sh "$$(ls $(DIST)/wsnative-*.whl)" oldest
	bash bindings/python/test-other-pythons.sh "$$(ls $(DIST)/wsnative-*.whl)" newest

# The C# binding (bindings/csharp/WsNative.cs): its tests and the C# chat
# example, built with Debian's Mono C# compiler and run under Mono against
# the bundled servers (bindings/csharp/run-tests.sh; mono from make deps).
test-csharp: deps lib
	@sh bindings/csharp/run-tests.sh

# The README's four "in ten lines" examples (C, C++, Python, C#), built and
# run against the bundled echo server (tests-readme/run.sh; Python from the
# venv of make test-python, C# with Mono from make deps).
test-readme: deps lib
	@sh tests-readme/run.sh

# Memory bounds against hostile servers (tests-memory/README.md): every
# dispatch mode x every hostile stream, 10 s each, 3 at a time (about 3
# minutes). The Python cells use the venv that test-python builds.
.PHONY: test-memory
$(BUILD)/tests-memory/client: tests-memory/client.c include/wsnative.h lib | $(BUILD)
	mkdir -p $(BUILD)/tests-memory
	$(CC) $(CFLAGS) $(CWARN) -Iinclude -o $@ $< -L$(RELEASE) -Wl,-rpath,$(CURDIR)/$(RELEASE) -lwsnative $(LIBS)

test-memory: lib $(BUILD)/tests-memory/client
	$(PYTHON) tests-memory/matrix.py --c-client $(BUILD)/tests-memory/client --python $(PY_VENV) --logs $(BUILD)/tests-memory

# Every test of the project; what CI runs (through .ci/run). deps comes first.
TEST_SUITES := lint header-check test-rust demo test-install test-python test-memory test-browser fuzz test-c test-cpp test-c-valgrind test-cpp-valgrind chat-test test-csharp test-readme autobahn-quick
test: deps
	@sh scripts/timed-suites.sh "$(MAKE)" $(TEST_SUITES)

# wsnative against other clients on one server that cannot be the limit
# (bench/README.md): W1-W5, W1s-W4s over TLS 1.3, W2z/W3z with
# permessage-deflate. Builds what it needs, then about 10-15 minutes of runs;
# writes bench/results/latest.*. BENCH_ARGS=--quick: a 1-2 minute smoke test.
bench: lib
	$(MAKE) -C bench run PYTHON=$(PYTHON) CARGO=$(CARGO)

# What ws_new() blocks and what a wss:// open costs, per trust option (and a
# plain ws:// open), over 200 sequential connections (bench/tls_setup.sh).
bench-tls-setup: lib
	sh bench/tls_setup.sh 200

clean:
	rm -rf $(BUILD)
	$(CARGO) clean
