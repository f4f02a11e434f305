# lmdflow — build, test, demo and install on Debian 12.
#   make demo   installs missing build dependencies, builds, runs the daemon on a built-in sample
#   make test   installs missing build dependencies, builds, runs the test suite
SHELL := /bin/bash
PREFIX ?= /usr/local
DESTDIR ?=
CONFIG ?= debug
# Swift lives in /opt/swift on the project's machines; use it when swift is not on PATH.
export PATH := $(PATH):/opt/swift/usr/bin
SWIFT ?= swift
SWIFT_FLAGS ?=
# Debian packages needed to build (runtime: the matching shared libraries).
DEB_PACKAGES := pkg-config libgeos-dev libxml2-dev libinotifytools0-dev libtiff-dev zlib1g-dev libdeflate-dev libsqlite3-dev libhdf5-dev
# Extra tools the tests use when present: systemd-analyze (the unit's exposure check), time,
# chromium (the status page rendered headless, issue 10).
DEB_TEST_PACKAGES := systemd time chromium

.PHONY: all deps build release test demo install uninstall bench reliability fuzz clean check-unit

all: build

## deps: install the missing Debian -dev packages (idempotent; apt-get only when something is missing).
deps:
	@missing=""; \
	for pkg in $(DEB_PACKAGES) $(DEB_TEST_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$pkg 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing$$missing"; \
	  sudo=""; [ "$$(id -u)" -eq 0 ] || sudo="sudo"; \
	  $$sudo apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing; \
	else \
	  echo "deps: all build dependencies present"; \
	fi
	@command -v $(SWIFT) >/dev/null || { echo "deps: swift not found (expected on PATH or in /opt/swift/usr/bin)"; exit 1; }

## build: debug build of the lmdflow executable and libraries.
build: deps
	$(SWIFT) build -c $(CONFIG) $(SWIFT_FLAGS)

release: deps
	$(SWIFT) build -c release $(SWIFT_FLAGS)

## test: unit and integration tests (integration tests run the real daemon binary).
test: deps
	$(SWIFT) build --build-tests $(SWIFT_FLAGS)
	LMDFLOW_BIN="$$($(SWIFT) build --show-bin-path)/lmdflow" $(SWIFT) test --skip-build $(SWIFT_FLAGS) 2>&1 | tee .build/test.log; \
	  exit $${PIPESTATUS[0]}

## demo: the daemon on a temporary drop folder with a built-in sample, end to end.
demo: build
	"$$($(SWIFT) build -c $(CONFIG) --show-bin-path)/lmdflow" demo --profile-dir "$(CURDIR)/share/lmdflow/profiles"

ANCHORS ?= $(HOME)/.cache/lmdflow-anchors

## bench: release-build benchmarks; results go to docs/PERFORMANCE.md by hand. The nd2 column
## needs the anchors venv: ../shared/tools/setup-anchors.sh.
bench: deps
	$(SWIFT) build -c release $(SWIFT_FLAGS)
	LMDFLOW_BIN="$$($(SWIFT) build -c release --show-bin-path)/lmdflow" python3 Benchmarks/daemon_bench.py
	LMDFLOW_BIN="$$($(SWIFT) build -c release --show-bin-path)/lmdflow" python3 Benchmarks/formats_bench.py
	@if [ -x "$(ANCHORS)/bin/python" ]; then \
	  LMDFLOW_BIN="$$($(SWIFT) build -c release --show-bin-path)/lmdflow" "$(ANCHORS)/bin/python" Benchmarks/seg_bench.py; \
	  LMDFLOW_BIN="$$($(SWIFT) build -c release --show-bin-path)/lmdflow" "$(ANCHORS)/bin/python" Benchmarks/seg_score.py nuclei; \
	  LMDFLOW_BIN="$$($(SWIFT) build -c release --show-bin-path)/lmdflow" "$(ANCHORS)/bin/python" Benchmarks/seg_score.py scportrait; \
	  LMDFLOW_BIN="$$($(SWIFT) build -c release --show-bin-path)/lmdflow" "$(ANCHORS)/bin/python" Benchmarks/singlecell_bench.py --cells 10000 --runs 3; \
	  LMDFLOW_BIN="$$($(SWIFT) build -c release --show-bin-path)/lmdflow" "$(ANCHORS)/bin/python" Benchmarks/stitch_bench.py --runs 3 --large; \
	else echo "segmentation benchmarks skipped: no anchors venv at $(ANCHORS) (../shared/tools/setup-anchors.sh $(ANCHORS))"; fi
	@if command -v wrk >/dev/null; then \
	  LMDFLOW_BIN="$$($(SWIFT) build -c release --show-bin-path)/lmdflow" python3 Benchmarks/api_bench.py; \
	else echo "API load check skipped: wrk not installed (apt-get install wrk)"; fi

## reliability: the full reliability suite against the release binary (kill -9 trials, disk full,
## inotify overflow, floods, hostile inputs, path tricks, memory over 1,000 runs); results go to
## docs/RELIABILITY.md by hand. Needs root for the tmpfs and the inotify sysctl (skipped otherwise).
## A reduced version runs in `make test` (IntegrationTests/ReliabilityTests).
reliability: deps
	$(SWIFT) build -c release $(SWIFT_FLAGS)
	LMDFLOW_BIN="$$($(SWIFT) build -c release --show-bin-path)/lmdflow" python3 Reliability/run.py --full

## install: binary, profiles, example config, systemd unit, sysusers and tmpfiles entries.
install: release
	install -D -m 0755 "$$($(SWIFT) build -c release --show-bin-path)/lmdflow" "$(DESTDIR)$(PREFIX)/bin/lmdflow"
	install -d "$(DESTDIR)$(PREFIX)/share/lmdflow/profiles"
	install -m 0644 share/lmdflow/profiles/*.yml "$(DESTDIR)$(PREFIX)/share/lmdflow/profiles/"
	install -D -m 0644 docs/CATALOG.md "$(DESTDIR)$(PREFIX)/share/doc/lmdflow/CATALOG.md"
	install -d "$(DESTDIR)/etc/lmdflow/profiles"
	[ -e "$(DESTDIR)/etc/lmdflow/lmdflow.yml" ] || install -m 0644 etc/lmdflow/lmdflow.yml "$(DESTDIR)/etc/lmdflow/lmdflow.yml"
	install -D -m 0644 systemd/lmdflow.service "$(DESTDIR)/etc/systemd/system/lmdflow.service"
	install -D -m 0644 systemd/lmdflow.sysusers.conf "$(DESTDIR)/usr/lib/sysusers.d/lmdflow.conf"
	install -D -m 0644 systemd/lmdflow.tmpfiles.conf "$(DESTDIR)/usr/lib/tmpfiles.d/lmdflow.conf"
	@echo "installed; now: systemd-sysusers && systemd-tmpfiles --create && systemctl daemon-reload && systemctl enable --now lmdflow"

uninstall:
	rm -f "$(DESTDIR)$(PREFIX)/bin/lmdflow" "$(DESTDIR)/etc/systemd/system/lmdflow.service" \
	  "$(DESTDIR)/usr/lib/sysusers.d/lmdflow.conf" "$(DESTDIR)/usr/lib/tmpfiles.d/lmdflow.conf"
	rm -rf "$(DESTDIR)$(PREFIX)/share/lmdflow"

## fuzz: libFuzzer + ASan on the ND2 and TIFF readers, 15 minutes each.
fuzz: deps
	Fuzz/run.sh nd2 900
	Fuzz/run.sh tiff 900

## check-unit: systemd-analyze exposure of the unit must be 2.0 or lower.
check-unit:
	./systemd/check-security.sh systemd/lmdflow.service

clean:
	rm -rf .build .build-*
