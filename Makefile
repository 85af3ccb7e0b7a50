# asahi-agx: build and test the Apple AGX GPU driver against a real Linux 7.2 kernel.
# `make test` runs everything; `make run` boots the simulated Mac.  See README.md.

SHELL := /bin/bash
BUILD := $(CURDIR)/.build
ROOT := $(BUILD)/root

# TOOLCHAIN=root (default): build inside the Debian sid build root made by `make setup`.
# TOOLCHAIN=host: use the host's rustc/bindgen/clang (they must suit Linux 7.2).
TOOLCHAIN ?= root
# KDIR=/path: a Linux 7.2 source tree to use instead of Debian's linux-source-7.2 (it is
# copied, never modified).
KDIR ?=
# The simulated machine: SoC and firmware release.
SOC ?= t8103
FW ?= 13.5

ifeq ($(TOOLCHAIN),host)
RUN :=
SRC := $(CURDIR)
else
RUN := scripts/in-root.sh $(ROOT)
SRC := /src
endif

.PHONY: all setup tree fwgen-bin kernel-um kernel-arm64 clippy kunit cargo-test fwgen-check test run clean

all: kernel-arm64 kernel-um

setup:
ifneq ($(TOOLCHAIN),host)
	@scripts/build-root.sh $(ROOT)
endif

tree: setup
	@scripts/kernel-tree.sh $(BUILD) $(ROOT) $(KDIR)

# The firmware-structure generator runs inside the kernel build (host binary).
fwgen-bin:
	@cargo build --release --locked -q -p fwgen

kernel-um: tree fwgen-bin
	@$(RUN) $(SRC)/scripts/kbuild.sh um

kernel-arm64: tree fwgen-bin
	@$(RUN) $(SRC)/scripts/kbuild.sh arm64

# Clippy over the arm64 build (our code must be clean; the next plain build recompiles Rust).
clippy: kernel-arm64
	@$(RUN) $(SRC)/scripts/kbuild.sh arm64 CLIPPY=1

kunit: kernel-um
	@$(RUN) $(SRC)/scripts/kunit.sh

cargo-test:
	cargo test --workspace --locked

fwgen-check:
	cargo run --release --locked -q -p fwgen -- check firmware-defs

test:
	@scripts/run-tests.sh

run: kernel-um
	@$(RUN) $(SRC)/scripts/run.sh $(SOC) $(FW)

clean:
	rm -rf $(BUILD)/out $(BUILD)/linux target
