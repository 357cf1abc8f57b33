# facefield — thin wrapper over CMake. `make` builds, `make test` runs every test, `make bench` the benches.
BUILD   ?= build
JOBS    ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all setup configure test bench demo cpu clean format

all: configure
	@cmake --build $(BUILD) -j $(JOBS)

setup:
	@bash scripts/setup.sh

configure: setup
	@test -f $(BUILD)/CMakeCache.txt || cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

test: all
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# main job: synthetic dataset → training on the built-in default → held-out PSNR/SSIM → fit_image on a photo
demo: configure
	@cmake --build $(BUILD) -j $(JOBS) --target ffdata train fit_image
	@bash scripts/demo.sh $(BUILD)
	@bash scripts/fit_demo.sh runs/demo $(BUILD) runs/demo/fit_grace_hopper

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
