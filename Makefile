# orbit: `make demo` runs the main job, `make test` runs every test.
# Both install what they need on a fresh Debian machine.

GO        ?= go
BUILD     ?= build
export ORBIT_TEST_CACHE ?= $(HOME)/.cache/orbit-test
VERSION   ?= 0.1.0-dev
LDFLAGS   := -X main.version=$(VERSION)
TEST_TIMEOUT ?= 30m
FUZZTIME  ?= 60s

.PHONY: all build cross desktop-windows test test-deps vet demo bench fuzz flags-doc clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BUILD)/ ./cmd/...
	$(GO) build -o $(BUILD)/osqueryd ./testdata/osqueryd

# The Windows and macOS builds must keep compiling; Linux tools check them.
# (On macOS the tray app needs cgo and Apple's SDK, so it is left out here.)
cross: desktop-windows
	GOOS=windows GOARCH=amd64 $(GO) build ./...
	GOOS=darwin GOARCH=arm64 $(GO) build ./...

# The tray app for Windows is a GUI program: no console window opens with it.
desktop-windows:
	GOOS=windows GOARCH=amd64 $(GO) build -ldflags "$(LDFLAGS) -H=windowsgui" -o $(BUILD)/windows/fleet-desktop.exe ./cmd/desktop

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./... ./testdata/osqueryd ./testdata/helloext ./testdata/demo/democtl

test-deps:
	bash scripts/test-deps.sh

test: test-deps vet cross
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./... ./testdata/osqueryd ./testdata/demo/democtl

demo:
	bash scripts/demo.sh

# One table of every figure, each against its baseline from the same run
# (bench/README.md); exits 1 when a goal is missed.
bench: test-deps
	$(GO) run ./bench/report

# Every Fuzz* test in the repository, one after the other, FUZZTIME each
# (found by scripts/fuzz.sh, so new ones need no change here).
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) bash scripts/fuzz.sh

# docs/flags.md, from the flag definitions (TestFlagsDoc in cmd/orbit and
# cmd/orbitctl checks it in make test; with the variable set, writes it).
flags-doc:
	ORBIT_UPDATE_FLAGS_DOC=1 $(GO) test -count=1 -p 1 -run '^TestFlagsDoc$$' ./cmd/orbit ./cmd/orbitctl

clean:
	rm -rf $(BUILD)
