# retain — make targets. `make help` lists them.
GO        ?= go
BIN       ?= bin/retain
PKGS      ?= ./...
# go test timeout for the whole suite
TEST_TIMEOUT ?= 20m

.PHONY: help build test test-race lint bench eval demo clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

build: ## build bin/retain
	$(GO) build -o $(BIN) ./cmd/retain

test: ## vet, gofmt check and the whole test suite (needs Postgres on 127.0.0.1:5432)
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet $(PKGS)
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) $(PKGS)

test-race: ## the test suite under the race detector
	$(GO) test -race -count=1 -timeout 40m $(PKGS)

lint: ## gofmt and go vet
	@test -z "$$(gofmt -l .)" || { gofmt -l .; exit 1; }
	$(GO) vet $(PKGS)

bench: ## every Go benchmark plus the side-by-side benchmarks under bench/ (slow: builds 20M-row data sets)
	./bench/run

eval: ## model quality on the real data sets in ../shared/datasets (AUC, calibration, CLV exactness)
	./bench/eval

demo: ## generate 50k customers into ./retain-demo and run the whole flow
	$(GO) run ./cmd/retain demo

clean: ## remove build outputs and the demo folder
	rm -rf bin retain-demo
