# posd — run `make` for the list of targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

SQLC_VERSION := v1.31.1
GOBIN        := $(shell go env GOPATH)/bin
SQLC         := $(GOBIN)/sqlc
POSD_FLAGS   ?=
BENCH_FLAGS  ?=
# VERSION is what `posd version`, /healthz and the start-up log report.
VERSION      ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS      := -X main.version=$(VERSION)

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build bin/posd and bin/posbench
	go build -ldflags '$(LDFLAGS)' -o bin/posd ./cmd/posd
	go build -o bin/posbench ./cmd/posbench

.PHONY: run
run: ## Run posd dev: local Postgres + embedded NATS + demo data on http://127.0.0.1:8080
	go build -ldflags '$(LDFLAGS)' -o bin/posd ./cmd/posd
	./bin/posd dev $(POSD_FLAGS)

.PHONY: test
test: ## Run every test against a real Postgres and NATS (started by the tests)
	go vet ./...
	POSD_ORDER_CACHE_CHECK=1 go test -race -count=1 -timeout 20m ./...

.PHONY: test-ha
test-ha: ## Fault tests on real pg_auto_failover and a 3-node NATS cluster, and the pgBackRest restore drill (needs pg_autoctl: Debian's pg-auto-failover-cli, postgresql-15-auto-failover; and pgbackrest)
	go test -tags ha -count=1 -timeout 20m -run '^TestHA' -v ./cmd/posd/

.PHONY: check-alerts
check-alerts: ## Check and unit-test the Prometheus alert rules (needs promtool: Debian's prometheus)
	cd deploy/prometheus && promtool check rules posd-rules.yml && promtool test rules posd-rules.test.yml

.PHONY: bench
bench: ## Benchmark PATCH on the real stack against pgbench (report also in bin/bench.md; see docs/BENCHMARKS.md)
	go build -ldflags '$(LDFLAGS)' -o bin/posd ./cmd/posd
	go build -o bin/posbench ./cmd/posbench
	./bin/posbench --posd bin/posd --out bin/bench.md $(BENCH_FLAGS)
	go test -c -o bin/store.test ./internal/store/
	for pair in 'journal off' 'off journal' 'journal off' 'off journal' 'journal off' 'off journal' 'journal off' 'off journal'; do \
	  for v in $$pair; do ./bin/store.test -test.run '^$$' -test.bench "Journal/^$$v$$" -test.benchtime 3s || exit 1; done; \
	done > bin/bench-journal.txt
	cat bin/bench-journal.txt

.PHONY: sqlc
sqlc: $(SQLC) ## Install the pinned sqlc
$(SQLC):
	go install github.com/sqlc-dev/sqlc/cmd/sqlc@$(SQLC_VERSION)

.PHONY: generate
generate: $(SQLC) ## Regenerate internal/store/internal/dbsqlc from db/queries and db/schema
	$(SQLC) generate

.PHONY: verify-generated
verify-generated: $(SQLC) ## Fail if the committed sqlc output is stale
	$(SQLC) diff

.PHONY: fmt
fmt: ## gofmt every Go file
	gofmt -w $$(git ls-files '*.go')

.PHONY: clean
clean: ## Remove build output and the dev data directory
	rm -rf bin .data
