# Dolbom: `make run` starts the gateway on its embedded defaults; `make test`
# runs everything the CI runs, installing and starting what it needs.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
GO ?= go
BIN := bin
DATA_DIR ?= ./var
FUZZTIME ?= 30s
BENCHTIME ?= 1s
export GOFLAGS := -buildvcs=false

.PHONY: all build run mock119 test scenarios race lint vet depcheck bench fuzz e2e clean tools

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/...

# The gateway on its embedded defaults: MQTT on :1883, HTTP on :8080, data under ./var.
# A mock 119 centre (dolbom-119 on :8119) receives the CAP alerts, checks them
# (against ../shared/spec/CAP-v1.2.xsd when it and xmllint are there, else
# their structure only: its first log line says which) and answers them; the
# built-in fake Twilio, chosen explicitly (--twilio fake; --demo implies it),
# plays the guardians: no SMS or call leaves the machine. --demo keeps the
# demo hub online with a simulated home and prints what to try.
DEMO_119_TOKEN ?= demo-119-answer-token-0123456789
MOCK_119 = ./$(BIN)/dolbom-119 --listen 127.0.0.1:8119 --xsd ../shared/spec/CAP-v1.2.xsd \
	  --answer-url http://127.0.0.1:8080/api/v1/119/answers --answer-token $(DEMO_119_TOKEN)
run: build
	@if (exec 3<>/dev/tcp/127.0.0.1/8119) 2>/dev/null; then \
	  echo "a mock 119 is already listening on :8119 (make mock119): using it"; \
	else \
	  $(MOCK_119) & mock=$$!; trap 'kill $$mock 2>/dev/null' EXIT; \
	fi; \
	DOLBOM_CAP_ANSWER_TOKEN=$(DEMO_119_TOKEN) ./$(BIN)/dolbomd --data-dir $(DATA_DIR) --demo --twilio fake --cap-url http://127.0.0.1:8119/cap

# The mock 119 alone, in the foreground: `make run` in another terminal uses
# it, so that it (and what it received) outlives a dolbomd you kill -9 to see
# the journal replay at the restart.
mock119: build
	$(MOCK_119)

tools:
	scripts/ensure-tools.sh

vet:
	$(GO) vet ./...

depcheck:
	$(GO) run ./scripts/depcheck

lint: vet depcheck
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi

# The whole suite, on both store back ends: a throwaway PostgreSQL cluster is
# started for the run and removed afterwards, whatever the outcome.
test: tools lint
	@export DOLBOM_PGTEST_STATE=$$(mktemp -u "$${TMPDIR:-/tmp}/dolbom-pgtest.XXXXXX"); \
	url=$$(scripts/pgtest.sh start); \
	trap 'scripts/pgtest.sh stop >/dev/null 2>&1 || true' EXIT; \
	export $$url DOLBOM_REQUIRE_POSTGRES=1 DOLBOM_REQUIRE_TOOLS=1; \
	$(GO) test -count=1 -timeout 30m ./...

# The end-to-end acceptance suite alone (part of make test): every scenario
# for its whole window at three local times, on synctest's fake clock.
scenarios:
	$(GO) test -count=1 -v -run 'TestScenarios$$' ./cmd/dolbom-sim/

# The suite under the race detector (slower; not part of make test).
race:
	@export DOLBOM_PGTEST_STATE=$$(mktemp -u "$${TMPDIR:-/tmp}/dolbom-pgtest.XXXXXX"); \
	url=$$(scripts/pgtest.sh start); \
	trap 'scripts/pgtest.sh stop >/dev/null 2>&1 || true' EXIT; \
	export $$url; \
	$(GO) test -race -short -count=1 -timeout 60m ./...

# Real-browser tests of the web console in Debian's Chromium, headless
# (cmd/internal/e2e); screenshots for review go to screenshots/. `make test`
# runs them too, as part of ./...
e2e: tools
	DOLBOM_REQUIRE_TOOLS=1 $(GO) test -count=1 -v ./cmd/internal/e2e/

bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./...

# Every fuzz target for FUZZTIME each.
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for target in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$target"; \
	    $(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

clean:
	rm -rf $(BIN)
