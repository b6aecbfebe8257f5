# govstream — developer entry points. `make help` lists them.
CARGO ?= cargo
OUT ?= out/demo

.PHONY: help run test build check lint fmt bench clean

help: ## Show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

run: ## Run the main job on the embedded default (bundled sample files, no external services)
	$(CARGO) run --release -q -p govstream-cli --bin govstream -- normalize \
	  --source hotline=data/samples/hotline.ndjson \
	  --source onenet=data/samples/onenet.ndjson \
	  --source bdc=data/samples/bdc.txt \
	  --out $(OUT)
	@echo "outputs in $(OUT)/"

test: ## Build and run the whole test suite (what CI runs)
	$(CARGO) build -p govstream-cli --bin govstream
	$(CARGO) test --workspace

check: fmt lint test ## Format check, clippy and tests: run before every commit

fmt: ## Check formatting
	$(CARGO) fmt --all -- --check

lint: ## Clippy, warnings are errors
	$(CARGO) clippy --workspace --all-targets -- -D warnings

bench: ## Criterion benchmarks (numbers go into README's Performance section)
	$(CARGO) bench -p govstream-normalize --bench normalize

clean:
	$(CARGO) clean
	rm -rf out
