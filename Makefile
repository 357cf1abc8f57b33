# facefield — thin wrapper over CMake. `make` builds, `make test` runs every test, `make bench` the benches.
BUILD   ?= build
JOBS    ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all setup configure test bench demo eval cpu clean format format-check view

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

# issue 15's measurements: eval/report.md + PNG plots (scripts/eval.sh). MODEL=path.ffck (or a run folder) picks the
# model, else the newest runs/demo checkpoint, else the demo model is trained first; photos from $$FF_PHOTOS or
# ../shared/data/photos; EVAL_ARGS: extra ffeval options
EVAL_OUT ?= eval
eval: configure
	@cmake --build $(BUILD) -j $(JOBS) --target ffdata train ffeval
	@EVAL_ARGS="$(EVAL_ARGS)" bash scripts/eval.sh $(BUILD) "$(MODEL)" $(EVAL_OUT)

# the browser viewer on a model: make view MODEL=runs/demo/checkpoints/step_00008000.ffck [FIT=fit_me/fit.json]
view: configure
	@test -n "$(MODEL)" || { echo "usage: make view MODEL=path/to/model.ffck|.ffpk [FIT=fit.json,...]"; exit 2; }
	@cmake --build $(BUILD) -j $(JOBS) --target ffview viewer
	@$(BUILD)/ffview $(MODEL) $(if $(FIT),--fit $(FIT))

bench:
	@FF_SETUP_BENCH=1 bash scripts/setup.sh
	@$(MAKE) --no-print-directory all
	@bash bench/run_all.sh $(BUILD)

cpu:
	@$(MAKE) --no-print-directory BUILD=build-cpu CMAKE_FLAGS=-DFF_CUDA=OFF all

clean:
	rm -rf $(BUILD) build-cpu

# C++/CUDA sources in the style of .clang-format; third_party/ and generated files (FORMAT_EXCLUDE) are left alone
FORMAT_EXCLUDE = ^third_party/ ^flame/headmodel_mediapipe_data\.cpp$$
FORMAT_FILES = $(shell git ls-files '*.h' '*.cpp' '*.cu' '*.cuh' | grep -v $(addprefix -e ,$(FORMAT_EXCLUDE)))

format:
	clang-format -i $(FORMAT_FILES)

# how many lines `make format` would change (per file, then the total); changes nothing
format-check:
	@total=0; for f in $(FORMAT_FILES); do \
	  n=$$(clang-format "$$f" | diff "$$f" - | grep -c '^<'); \
	  if [ "$$n" -gt 0 ]; then echo "$$n $$f"; total=$$((total + n)); fi; \
	done; \
	echo "format-check: $$total of $$(cat $(FORMAT_FILES) | wc -l) lines would change (make format)"
