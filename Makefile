# Loam. `make demo` shows the whole thing on one machine; `make test` is what
# CI runs. Both set up what they need on a fresh machine.

GO       ?= go
BIN      := bin
CMDS     := $(notdir $(wildcard cmd/*))
FUZZTIME ?= 10s
BENCH    ?= .

.PHONY: all build test unit integration vet fmt-check bench fuzz lint demo faults clean

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./cmd/...

# Everything CI checks: vet, formatting, the race-enabled tests, then the
# heavy integration tests (names ending in Integration), which skip under
# -short and run here once, without the race detector's 5-10x slowdown.
test: vet fmt-check unit integration

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

unit:
	$(GO) test -race -short -timeout 15m ./...

integration:
	$(GO) test -count=1 -timeout 20m -run 'Integration$$' ./...

# Benchmarks: figures go into docs/benchmarks.md with date and CPU.
bench:
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem ./...

# Each fuzz target for FUZZTIME.
fuzz:
	FUZZTIME=$(FUZZTIME) scripts/fuzz

# The test bed's long run: every fault scenario for minutes, in network
# namespaces (root); the table goes into docs/reliability.md. make test runs
# the short version (TestTestbedIntegration).
faults:
	scripts/testbed --long

lint:
	$(GO) tool staticcheck ./...

demo:
	$(GO) run ./internal/cmd/demo

clean:
	rm -rf $(BIN)
