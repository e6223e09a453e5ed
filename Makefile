# Teleread developer targets. GNU make.
#
#   make run            services up, build, fetch the OHIF viewer, migrate, seed demo data, serve on $(LISTEN)
#   make test           test tools (Chromium, OHIF: scripts/test-tools.sh), services up, go vet, go test -race (PKG=..., TESTFLAGS=...)
#   make build          bin/teleread
#   make fmt            fail if any Go file is not gofmt-formatted (make fmt-fix rewrites)
#   make bench          go run ./scripts/bench/ingest against the local services
#   make bench-latency  go run ./scripts/bench/latency: routing, worklist (1M cases) and webhook latencies
#   make bench-stow     go run ./scripts/bench/stow: STOW-RS into Teleread vs Orthanc vs raw MinIO PutObject
#   make bench-qido     go run ./scripts/bench/qido: QIDO-RS latency per search kind over 100,000 studies
#   make bench-load     go run ./scripts/bench/load: mixed load (worklist, inbox, uploads, QIDO) at saturation
#   make test-faults    fault drills and the scale-out test (build tag faults), each on a private stack of its own
#   make drill          clinical-loop drill under SIGKILLs, backup and restore (build tag drill; DRILLFLAGS="-cases N", 1000 by default)
#   make fuzz           every Go fuzz target for FUZZTIME (30s) in turn, on the services (FUZZTIME=10m: docs/hardening.md)
#   make services-up / services-down / services-status / services-reset
#   make generate       regenerate the sqlc query code after changing a .sql file or a migration
#   make clean          remove build and test output (not service data: services-reset)
#
# PostgreSQL and MinIO come from scripts/services.sh (see its header); every
# target that needs them runs `scripts/services.sh up` first and uses the
# TELEREAD_* environment it prints.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# go from PATH, else the standard install location (.ci/run also adds it to PATH).
GO        ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
GOFMT     ?= $(if $(findstring /,$(GO)),$(dir $(GO)))gofmt
PKG       ?= ./...
TESTFLAGS ?=
BENCHFLAGS ?=
LISTEN    ?= 127.0.0.1:8080
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
BIN       := bin/teleread
SERVICES  := scripts/services.sh

# WITH_SERVICES: start (or reuse) the services and load their environment into
# the recipe's shell. A plain assignment, so that under `bash -e` a failing `up`
# stops the recipe (eval "$(...)" alone would hide the failure).
WITH_SERVICES = svc_env="$$($(SERVICES) up)"; eval "$$svc_env"

.PHONY: help run test test-faults drill vet build fmt fmt-fix bench bench-latency bench-stow bench-qido bench-load fuzz clean generate \
	services-up services-down services-status services-reset

help:
	@sed -n 's/^#   //p' $(firstword $(MAKEFILE_LIST))

build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/teleread

run: build
	@scripts/ohif.sh >/dev/null || echo "== the OHIF viewer could not be fetched: /viewer/ says how to install it" >&2
	@$(WITH_SERVICES); \
	export TELEREAD_LISTEN="$(LISTEN)"; \
	echo "== migrate" >&2; \
	$(BIN) migrate; \
	echo "== seed --demo (demo logins and tokens)" >&2; \
	$(BIN) seed --demo; \
	echo "" >&2; \
	echo "== serving on http://$(LISTEN)/  (readiness: http://$(LISTEN)/readyz; Ctrl-C stops)" >&2; \
	exec $(BIN) serve

test:
	scripts/test-tools.sh
	$(WITH_SERVICES); \
	$(GO) vet $(PKG); \
	$(GO) test -race -count=1 $(TESTFLAGS) $(PKG)

# The fault drills start private stacks (testenv.NewStack: their own PostgreSQL and
# MinIO, stopped, broken and wiped at will) and `teleread` child processes
# they SIGKILL, so they are kept out of `make test` behind build tags. The
# shared services are still started: the tests take their tools from them.
FAULTPKGS  ?= ./internal/faults/... ./internal/scaleout/...

test-faults:
	$(WITH_SERVICES); \
	$(GO) vet -tags faults $(FAULTPKGS); \
	$(GO) test -count=1 -tags faults -timeout 40m $(TESTFLAGS) $(FAULTPKGS)

# The clinical-loop drill and the backup-and-restore drill (internal/drill,
# build tag drill): private stacks too, and slower, so apart from test-faults.
DRILLFLAGS ?=

drill:
	$(WITH_SERVICES); \
	$(GO) vet -tags drill ./internal/drill/...; \
	$(GO) test -count=1 -tags drill -timeout 90m -v ./internal/drill/... -args $(DRILLFLAGS)

vet:
	$(GO) vet $(PKG)

fmt:
	@files="$$(find . \( -path ./.git -o -path ./.data -o -path ./bin -o -path ./.tools -o -path ./vendor \) -prune \
		-o -name '*.go' -print | xargs -r $(GOFMT) -l)"; \
	if [[ -n "$$files" ]]; then \
		echo "not gofmt-formatted (run make fmt-fix):" >&2; echo "$$files" >&2; exit 1; \
	fi

fmt-fix:
	find . \( -path ./.git -o -path ./.data -o -path ./bin -o -path ./.tools -o -path ./vendor \) -prune \
		-o -name '*.go' -print | xargs -r $(GOFMT) -w

bench:
	$(WITH_SERVICES); \
	$(GO) run ./scripts/bench/ingest $(BENCHFLAGS)

bench-latency:
	$(WITH_SERVICES); \
	$(GO) run ./scripts/bench/latency $(BENCHFLAGS)

bench-stow:
	$(WITH_SERVICES); \
	$(GO) run ./scripts/bench/stow $(BENCHFLAGS)

bench-qido:
	$(WITH_SERVICES); \
	$(GO) run ./scripts/bench/qido $(BENCHFLAGS)

bench-load:
	$(WITH_SERVICES); \
	$(GO) run ./scripts/bench/load $(BENCHFLAGS)

# fuzz runs each target of FUZZ_TARGETS (package:Func) on its own for
# FUZZTIME; a crash stops the run and leaves its input in the package's
# testdata/fuzz/<Func>/, to commit with the fix (docs/hardening.md).
FUZZTIME     ?= 30s
FUZZPARALLEL ?= 1
# FUZZMINIMIZE bounds the minimisation of each new input (Go's default, a
# minute, can take a whole FUZZTIME).
FUZZMINIMIZE ?= 200x
FUZZ_TARGETS := internal/dicomfile:FuzzReadHeader internal/dicomfile:FuzzReadHeaderUpload \
	internal/dicomfile:FuzzRenderFrame internal/dicomweb:FuzzStowBody internal/dicomweb:FuzzQIDOQuery \
	internal/photo:FuzzProcess internal/photo:FuzzProcessBounds internal/httpapi:FuzzBindReportDraft \
	internal/reports:FuzzNormalizeDraft

fuzz:
	$(WITH_SERVICES); \
	for target in $(FUZZ_TARGETS); do \
		pkg="./$${target%%:*}"; name="$${target##*:}"; \
		echo "== fuzz $$name in $$pkg for $(FUZZTIME)" >&2; \
		corpus="$$pkg/testdata/fuzz/$$name"; before=$$( (ls "$$corpus" 2>/dev/null || true) | wc -l); \
		if ! $(GO) test -run='^$$' -fuzz="^$${name}\$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=$(FUZZMINIMIZE) \
			-parallel=$(FUZZPARALLEL) "$$pkg"; then \
			if [ "$$( (ls "$$corpus" 2>/dev/null || true) | wc -l)" != "$$before" ]; then \
				echo "fuzz: $$name found a failing input: $$corpus" >&2; exit 1; \
			fi; \
			echo "fuzz: $$name failed without a failing input (Go's fuzzer can end with \"context deadline exceeded\" when the time is up mid-input): once more" >&2; \
			$(GO) test -run='^$$' -fuzz="^$${name}\$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=$(FUZZMINIMIZE) \
				-parallel=$(FUZZPARALLEL) "$$pkg"; \
		fi; \
	done

# sqlc is pinned and run through the Go module proxy; the generated code is
# committed, so building and testing do not need it.
generate:
	$(GO) run github.com/sqlc-dev/sqlc/cmd/sqlc@v1.31.1 generate

services-up:
	@$(SERVICES) up >/dev/null
	@$(SERVICES) status

services-down:
	$(SERVICES) down

services-status:
	@$(SERVICES) status

services-reset:
	$(SERVICES) reset

clean:
	rm -rf bin/ coverage.out coverage.html *.coverprofile
	find . \( -path ./.git -o -path ./.data \) -prune -o -name '*.test' -type f -print -delete
