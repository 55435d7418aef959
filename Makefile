# Entry points. `make run` and `make test` are the two commands in the README.
#   make run    install missing packages (as root), build, start flo-sidecar --dev
#   make test   install, build, run every test; then the ASan+UBSan build and
#               its tests; then each fuzz target for a bounded time
#   make bench  compare against redis-server, twemproxy and webdis (bench/run.sh)
#   make release  Release build of flo-sidecar and flo-dev only (the image's builder)

JOBS      ?= $(shell nproc 2>/dev/null || echo 2)
BUILD     ?= build
ASAN      ?= build-asan
FUZZ      ?= build-fuzz
FUZZ_SECS ?= 20
CMAKE_FLAGS ?=

.PHONY: all deps build run test test-unit test-asan fuzz bench format clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

run: build
	./$(BUILD)/flo-sidecar --dev

test: build
	cd $(BUILD) && ctest --output-on-failure -j 1
	$(MAKE) test-asan
	$(MAKE) fuzz

test-asan: deps
	cmake -S . -B $(ASAN) -DCMAKE_BUILD_TYPE=Debug -DFLO_SANITIZE=ON $(CMAKE_FLAGS) >/dev/null
	cmake --build $(ASAN) -j $(JOBS)
	cd $(ASAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    ctest --output-on-failure -j 1

# libFuzzer targets (clang), each run for FUZZ_SECS seconds from its seed corpus.
fuzz: deps
	CC=clang cmake -S . -B $(FUZZ) -DCMAKE_BUILD_TYPE=Debug -DFLO_FUZZ=ON -DFLO_WERROR=OFF \
	    -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link,address,undefined" \
	    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
	cmake --build $(FUZZ) -j $(JOBS) --target fuzz_targets
	@set -e; for f in $(FUZZ)/tests/fuzz_*; do \
	    [ -x "$$f" ] || continue; \
	    name=$$(basename $$f); corpus=tests/fuzz/corpus/$$name; \
	    mkdir -p $(FUZZ)/corpus/$$name; \
	    echo "fuzz: $$name for $(FUZZ_SECS)s"; \
	    $$f -max_total_time=$(FUZZ_SECS) -print_final_stats=0 \
	        $(FUZZ)/corpus/$$name $$( [ -d $$corpus ] && echo $$corpus ) 2>&1 | tail -n 2; \
	done

# Release build of flo-sidecar and flo-dev only (no test suite, no bench
# clients): what the container image's builder stage runs (docker/Dockerfile).
RELEASE ?= build-release
.PHONY: release
release:
	@scripts/install-deps.sh --build
	cmake -S . -B $(RELEASE) -DCMAKE_BUILD_TYPE=Release -DFLO_TESTS=OFF $(CMAKE_FLAGS) >/dev/null
	cmake --build $(RELEASE) -j $(JOBS) --target flo-sidecar flo-dev

bench: build
	scripts/install-deps.sh --bench
	FLO_BUILD=$(BUILD) bench/run.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN) $(FUZZ)
