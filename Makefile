# Thin wrapper over the deno tasks in deno.json. Uses the deno on PATH, or
# installs the pinned version from the npm registry into .tools/ (outside the
# project's own dependency tree, so Deno does not take it for one).
DENO_VERSION := 2.9.6
TOOLS := .tools
PINNED := $(TOOLS)/node_modules/.bin/deno
DENO := $(shell command -v deno 2>/dev/null || echo $(PINNED))
export NO_COLOR := 1

.PHONY: all test check lint fmt fmt-check unit build demo torture bench bench-delta bench-delta-quick deps clean man install uninstall wasm

all: test

$(PINNED):
	npm install --silent --no-audit --no-fund --prefix $(TOOLS) deno@$(DENO_VERSION)

# Fetches the pinned npm dependencies of deno.lock into Deno's cache.
deps: | $(DENO)
	$(DENO) install --frozen

## make test: format check, lint, type check and every test, with the torture smoke set.
test: deps
	$(DENO) task fmt
	$(DENO) task lint
	$(DENO) task check
	$(DENO) task test

check: deps
	$(DENO) task check

lint: | $(DENO)
	$(DENO) task lint

fmt: | $(DENO)
	$(DENO) fmt

## make build: the single binary, with the exact permissions that the tests use.
## Needs network access once: deno compile downloads Deno's runtime (denort).
build: deps
	$(DENO) task compile

## make demo: publish a sample image to a local origin, serve it on loopback, fetch it.
demo: deps
	$(DENO) run --no-prompt --allow-read --allow-write --allow-net=127.0.0.1 --allow-run --allow-env demo/demo.ts

## make unit: the unit tests alone (tests/unit/: core, shell, commands; no spawned tako).
unit: deps
	$(DENO) test --no-prompt --allow-read --allow-write --allow-net=127.0.0.1,localhost --allow-run --allow-env --parallel tests/unit/

## make torture: every fault-injection and fuzzing case, at full size (see docs/reliability.md).
torture: deps
	TAKO_TORTURE=1 TAKO_FUZZ_RUNS=100000 $(DENO) task test

## make bench: compares tako with curl, sha256sum and cp (see docs/performance.md).
bench: deps
	$(DENO) run --no-prompt -A bench/bench.ts

## make wasm: reassembles the rolling match's WebAssembly kernel (needs wat2wasm, Debian's wabt).
wasm: | $(DENO)
	mkdir -p build
	wat2wasm lib/core/rolling_kernel.wat -o build/rolling_kernel.wasm
	$(DENO) run --allow-read --allow-write dev/wasm_module.ts build/rolling_kernel.wasm lib/core/rolling_kernel_wasm.ts
	$(DENO) fmt lib/core/rolling_kernel_wasm.ts

## make man: the man pages (tako.1, tako-<command>.1) from the --help texts, into $(MANBUILD).
MANBUILD ?= build/man
man: | $(DENO)
	rm -rf $(MANBUILD)
	$(DENO) run --no-prompt --allow-write=$(MANBUILD) dev/man.ts $(MANBUILD)

## make install [PREFIX=/usr/local] [DESTDIR=]: bin/tako (when built), the man pages, the
## template units tako@.service and tako@.timer, and the example drop-in for metrics.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
UNITDIR ?= $(PREFIX)/lib/systemd/system
EXAMPLEDIR ?= $(PREFIX)/share/doc/tako/examples
# The units name the binary where it is installed.
UNIT_SED := sed 's|/usr/local/bin/tako|$(BINDIR)/tako|g'

install: man
	@if [ -x bin/tako ]; then \
	  install -D -m 0755 bin/tako $(DESTDIR)$(BINDIR)/tako; \
	else \
	  echo "make install: bin/tako is not built, so it is not installed (run 'make build' first); installing the man pages and units." >&2; \
	fi
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(UNITDIR) $(DESTDIR)$(EXAMPLEDIR)
	install -m 0644 $(MANBUILD)/*.1 $(DESTDIR)$(MANDIR)/man1/
	$(UNIT_SED) 'systemd/tako@.service' > '$(DESTDIR)$(UNITDIR)/tako@.service'
	$(UNIT_SED) 'systemd/tako@.timer' > '$(DESTDIR)$(UNITDIR)/tako@.timer'
	$(UNIT_SED) 'systemd/tako@.service.d/prometheus.conf' > '$(DESTDIR)$(EXAMPLEDIR)/prometheus.conf'
	chmod 0644 '$(DESTDIR)$(UNITDIR)/tako@.service' '$(DESTDIR)$(UNITDIR)/tako@.timer' \
	  '$(DESTDIR)$(EXAMPLEDIR)/prometheus.conf'

## make uninstall: removes what make install installed (same PREFIX and DESTDIR).
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/tako $(DESTDIR)$(MANDIR)/man1/tako.1 $(DESTDIR)$(MANDIR)/man1/tako-*.1
	rm -f '$(DESTDIR)$(UNITDIR)/tako@.service' '$(DESTDIR)$(UNITDIR)/tako@.timer'
	rm -f '$(DESTDIR)$(EXAMPLEDIR)/prometheus.conf'
	-rmdir '$(DESTDIR)$(EXAMPLEDIR)' '$(DESTDIR)$(PREFIX)/share/doc/tako' 2>/dev/null

clean:
	rm -rf bin coverage build

## make bench-delta: Tako's delta update against zsync and casync on real images (docs/performance.md).
bench-delta: deps
	$(DENO) run --no-prompt -A bench/delta_bench.ts

## make bench-delta-quick: the same on an 80 MB tree, one run, no large images.
bench-delta-quick: deps
	BENCH_DELTA_TREE_MB=80 BENCH_DELTA_RUNS=1 BENCH_DELTA_LARGE_MB= $(DENO) run --no-prompt -A bench/delta_bench.ts
