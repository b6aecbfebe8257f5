# govstream — developer entry points. `make help` lists them.
CARGO ?= cargo
OUT ?= out/demo
# The end-to-end tests drive the release binary: the Kafka fault suite moves 200 k records per
# fault, which a debug build makes several times slower.
BIN ?= $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)/release/govstream

.PHONY: help run test build check lint fmt fuzz bench clean

help: ## Show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

run: ## Run the main job on the embedded default: in-process Kafka + generator + pipeline + live summary
	$(CARGO) run --release -q -p govstream-cli --bin govstream -- demo

test: ## Install test tools, build, run the whole test suite (what CI runs)
	scripts/install-kafka.sh
	scripts/install-pyclient.sh
	scripts/install-browser.sh
	scripts/test-deploy.sh
	scripts/fuzz.sh
	$(CARGO) build -p govstream-cli --no-default-features  # the file commands build without librdkafka
	$(CARGO) build --release -p govstream-cli --bin govstream
	GOVSTREAM_BIN=$(BIN) $(CARGO) test --workspace

check: fmt lint test ## Format check, clippy and tests: run before every commit

fmt: ## Check formatting
	$(CARGO) fmt --all -- --check

lint: ## Clippy, warnings are errors
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy -p govstream-cli --no-default-features -- -D warnings

fuzz: ## Coverage-guided fuzzing of the pure core, every target 20 s (FUZZ_SECONDS=n for longer)
	scripts/fuzz.sh

bench: ## Benchmarks: criterion + replay of 1 M and 10 M generated records + DuckDB comparison
	scripts/bench.sh

clean:
	$(CARGO) clean
	rm -rf out .tools fuzz/target fuzz/artifacts
