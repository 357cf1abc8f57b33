# facefield — thin wrapper over CMake. `make` builds, `make test` runs every test, `make bench` the benches.
BUILD   ?= build
JOBS    ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all setup configure test bench cpu clean format

all: configure
	@cmake --build $(BUILD) -j $(JOBS)

setup:
	@bash scripts/setup.sh

configure: setup
	@test -f $(BUILD)/CMakeCache.txt || cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

test: all
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

bench:
	@FF_SETUP_BENCH=1 bash scripts/setup.sh
	@$(MAKE) --no-print-directory all
	@bash bench/run_all.sh $(BUILD)

cpu:
	@$(MAKE) --no-print-directory BUILD=build-cpu CMAKE_FLAGS=-DFF_CUDA=OFF all

clean:
	rm -rf $(BUILD) build-cpu

format:
	clang-format -i $$(git ls-files '*.h' '*.cpp' '*.cu' '*.cuh')
