# Everyday entry points. `make run` and `make test` first install missing Debian packages
# (scripts/setup.sh, idempotent), then configure and build into $(BUILD).
BUILD ?= build
JOBS ?= $(shell nproc)
MANIFEST ?= manifests/demo.toml
RUN ?=
XMTF = $(BUILD)/bin/xmtf

.PHONY: setup build test run plan submit status resubmit cancel bench clean

setup:
	@scripts/setup.sh

build: setup
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -UXMTF_AREAS >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

test: build
	ctest --test-dir $(BUILD) --output-on-failure -j$(JOBS) --timeout 900

run: build
	$(XMTF) run $(MANIFEST)

plan: build
	$(XMTF) plan $(MANIFEST)

submit: build
	$(XMTF) submit $(MANIFEST)

status: build
	$(XMTF) status $(if $(RUN),$(RUN),$(MANIFEST))

resubmit: build
	$(XMTF) resubmit $(if $(RUN),$(RUN),$(MANIFEST)) $(if $(STAGE),--stage $(STAGE))

cancel: build
	$(XMTF) cancel $(if $(RUN),$(RUN),$(MANIFEST))

# The C++ benchmarks, then the scripted ones (each generates ~1 GiB under /tmp; minutes).
# BASELINE_TRAIN=/path/to/another/xmtf-train compares the training step side by side.
bench: build
	@for b in $(BUILD)/bin/bench_*; do echo "== $$b"; $$b; done
	@echo "== bench/hub/bench_fetch.sh"; bash bench/hub/bench_fetch.sh $(BUILD)/bin
	@echo "== bench/data/bench_shard.sh"; bash bench/data/bench_shard.sh $(BUILD)/bin/xmtf-shard
	@echo "== bench/engine/bench_train.sh"; bash bench/engine/bench_train.sh $(BUILD)/bin/xmtf-train $(BASELINE_TRAIN)

clean:
	rm -rf $(BUILD)
