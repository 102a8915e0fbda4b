# Thin wrapper over CMake; see README.md.
BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= $(shell nproc)
DEMO_DIR ?= $(CURDIR)/demo-cluster

.PHONY: all bootstrap build asan test test-unit valgrind demo demo-down bench chaos fuzz clean format format-check

all: build

bootstrap:
	@./scripts/bootstrap

# Quiet on success (one line; the full log in DIR/build.log), the whole log
# on failure.
build:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) >$(BUILD)/build.log 2>&1 || { cat $(BUILD)/build.log; echo "build failed (log: $(BUILD)/build.log)"; exit 1; }
	@echo "build: $(BUILD) up to date (log: $(BUILD)/build.log)"

asan:
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DDR_SANITIZE=asan >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS) >$(ASAN_BUILD)/build.log 2>&1 || { cat $(ASAN_BUILD)/build.log; echo "asan build failed (log: $(ASAN_BUILD)/build.log)"; exit 1; }
	@echo "build: $(ASAN_BUILD) up to date (log: $(ASAN_BUILD)/build.log)"

# Every test on the normal build, then all of them again with every binary
# (unit tests, drnode, drctl) built with ASan+UBSan and leak checking.
# Three at a time on two cores: integration tests mostly wait (about 45 %
# CPU over a run here), and the longest go first (tests/CMakeLists.txt).
test: bootstrap format-check build asan
	cd $(BUILD) && ctest --output-on-failure -j 3
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j 3
	$(MAKE) --no-print-directory valgrind
	$(MAKE) --no-print-directory terraform-check

# Every C file as .clang-format says (make format applies it).
C_SOURCES = $(shell git ls-files '*.c' '*.h')
format:
	clang-format -i $(C_SOURCES)
format-check:
	@clang-format --dry-run --Werror $(C_SOURCES) || { echo "format-check: run make format"; exit 1; }
	@echo "format-check: $(words $(C_SOURCES)) files formatted"

# The unit and fixture tests under valgrind: it sees uninitialized reads
# that ASan does not.
# Two at a time (each is one CPU-bound process); xargs fails when one does.
valgrind: build
	@for t in $(BUILD)/tests/test_*; do [ -x "$$t" ] && echo "$$t"; done | \
	    xargs -P 2 -n 1 sh -c 'valgrind --leak-check=full --error-exitcode=9 -q "$$0" >/dev/null 2>"$$0.valgrind" \
	        || { echo "valgrind: $$0 failed:"; cat "$$0.valgrind"; exit 1; }; \
	    echo "valgrind: $$(basename $$0) clean"'

.PHONY: package terraform-check

# Debian package of drnode and drctl (dpkg-deb), in $(BUILD)/dist.
package: build
	BUILD=$(BUILD) ./scripts/package

# terraform/ and the package, checked offline (docs/deploy.md); says what it
# skipped (terraform validate without terraform and its aws provider).
terraform-check: build
	BUILD=$(BUILD) DR_ALLOW_SKIPS=$(DR_ALLOW_SKIPS) TF_CHECK_OPTIONAL=$(TF_CHECK_OPTIONAL) ./scripts/terraform-check

test-unit: build
	cd $(BUILD) && ctest --output-on-failure -L unit -j 2

demo: bootstrap build
	@DRCTL=$(BUILD)/cluster/drctl DEMO_DIR=$(DEMO_DIR) ./scripts/demo

demo-down:
	$(BUILD)/cluster/drctl local down --dir $(DEMO_DIR)

bench: build
	DR_BOOTSTRAP_BENCH=1 ./scripts/bootstrap
	./bench/run-raft-vs-etcd
	./bench/pg-backup --drnode $(BUILD)/node/drnode
	./bench/pg-copy-floor --drnode $(BUILD)/node/drnode
	./bench/redis-backup $(BUILD)/node/drnode
	.deps/venv/bin/python3 bench/replicate --drnode $(BUILD)/node/drnode
	./bench/failover-vs-patroni --drctl $(BUILD)/cluster/drctl --big-mib 1024 --paths promote,restore
	./bench/wal-archive --drnode $(BUILD)/node/drnode

# 10,000 deterministic fault schedules on raft's fixture (make test runs
# 2,000), then a long randomized fault schedule against a real cluster
# (docs/reliability.md; needs root). CHAOS_SEED replays a run; CHAOS_NEMESIS
# picks the faults; CHAOS_DNS=0 leaves out DNS, databases and real failovers.
CHAOS_DURATION ?= 1800
CHAOS_NEMESIS ?= all
CHAOS_SCHEDULES ?= 10000
CHAOS_DNS ?= 1
chaos: bootstrap build
	DR_FIXTURE_SCHEDULES=$(CHAOS_SCHEDULES) $(BUILD)/tests/test_schedules
	DRNODE=$(BUILD)/node/drnode ./chaos/run --duration $(CHAOS_DURATION) --nemesis $(CHAOS_NEMESIS) $(if $(CHAOS_SEED),--seed $(CHAOS_SEED)) $(if $(filter 1,$(CHAOS_DNS)),--dns)

# Every parser's harness (tests/fuzz/fuzz_NAME.c) under libFuzzer with ASan
# and UBSan, FUZZ_SECONDS each, one after another, in a clang build of its
# own ($(FUZZ_BUILD), DR_SANITIZE=fuzz); FUZZERS picks some. Each grows its
# corpus in $(FUZZ_BUILD)/fuzz/NAME/corpus from the seeds (tests/data/rdb,
# tests/data/fuzz/NAME), which make test replays. A crash is saved as
# $(FUZZ_BUILD)/fuzz/NAME/crash-* and stops the run: replay it with
# $(BUILD)/tests/fuzz_NAME_replay FILE (make build makes it).
# docs/reliability.md keeps the tally.
FUZZ_SECONDS ?= 300
FUZZ_BUILD ?= build-fuzz
FUZZERS ?= rdb json codec_entry codec_snapshot config pg_manifest \
	redis_manifest s3_xml dns tar http
fuzz:
	DR_BOOTSTRAP_FUZZ=1 ./scripts/bootstrap
	@CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DDR_SANITIZE=fuzz >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS) $(addprefix --target fuzz_,$(FUZZERS)) >$(FUZZ_BUILD)/build.log 2>&1 || { cat $(FUZZ_BUILD)/build.log; echo "fuzz build failed (log: $(FUZZ_BUILD)/build.log)"; exit 1; }
	@set -e; for n in $(FUZZERS); do \
	    seeds=$(CURDIR)/tests/data/fuzz/$$n; \
	    [ $$n = rdb ] && seeds=$(CURDIR)/tests/data/rdb; \
	    mkdir -p $(FUZZ_BUILD)/fuzz/$$n/corpus; \
	    echo "fuzz: $$n for $(FUZZ_SECONDS) s"; \
	    (cd $(FUZZ_BUILD)/fuzz/$$n && ../../tests/fuzz_$$n \
	        -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
	        -rss_limit_mb=1024 -print_final_stats=1 corpus $$seeds \
	        >fuzz.log 2>&1) || { tail -60 $(FUZZ_BUILD)/fuzz/$$n/fuzz.log; \
	        echo "fuzz: $$n failed (log: $(FUZZ_BUILD)/fuzz/$$n/fuzz.log)"; exit 1; }; \
	    grep -E '^stat::number_of_executed_units' $(FUZZ_BUILD)/fuzz/$$n/fuzz.log \
	        | sed "s/^/fuzz: $$n /"; \
	done

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
