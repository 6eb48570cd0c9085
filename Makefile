# Everyday entry points. `make run` and `make test` first install missing Debian packages
# (scripts/setup.sh, idempotent), then configure and build into $(BUILD).
BUILD ?= build
JOBS ?= $(shell nproc)
MANIFEST ?= manifests/demo.toml
RUN ?=
XMTF = $(BUILD)/bin/xmtf

.PHONY: setup build test golden run plan submit status resubmit cancel report bench clean

setup:
	@scripts/setup.sh

build: setup
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -UXMTF_AREAS >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

test: build
	ctest --test-dir $(BUILD) --output-on-failure -j$(JOBS) --timeout 900

# Rewrites the scheduler's golden files from what the code writes now: only after a change
# that is meant to alter them; review the diff (the tests never rewrite a golden).
golden: build
	$(BUILD)/bin/sched_write_golden tests/unit/sched/golden

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

# Tables and plots of a run: every eval result and metrics.jsonl under results/<run>/ into
# results/<run>/report/. BASELINE="file ..." adds published columns, COMPARE=column differences.
report: build
	@test -n "$(RUN)" || { echo "usage: make report RUN=<run> [BASELINE='FILE...'] [COMPARE=COLUMN]" >&2; exit 2; }
	$(BUILD)/bin/xmtf-aggregate --input results/$(RUN) $(foreach b,$(BASELINE),--baseline $(b)) \
	  --output results/$(RUN)/report --title "$(RUN)" $(if $(COMPARE),--compare-to "$(COMPARE)")

# The C++ benchmarks, then the scripted ones (each generates ~1 GiB under /tmp; minutes).
# BASELINE_TRAIN=/path/to/another/xmtf-train compares the training step side by side.
bench: build
	@for b in $(BUILD)/bin/bench_*; do echo "== $$b"; $$b; done
	@echo "== bench/hub/bench_fetch.sh"; bash bench/hub/bench_fetch.sh $(BUILD)/bin
	@echo "== bench/data/bench_shard.sh"; bash bench/data/bench_shard.sh $(BUILD)/bin/xmtf-shard
	@echo "== bench/engine/bench_train.sh"; bash bench/engine/bench_train.sh $(BUILD)/bin/xmtf-train $(BASELINE_TRAIN)

clean:
	rm -rf $(BUILD)
