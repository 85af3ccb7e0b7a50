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

.PHONY: uapi-test uapi-test-bin bench clippy-um fmt-check sim-faults tools-test all setup tree fwgen-bin model-bin sim-boot-all kernel-um kernel-arm64 clippy kunit kunit-arm64 cargo-test fwgen-check test run clean sim-mesa vk-test-bin

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

# Clippy over the UML build, which also compiles the UML-only code (TLB bridge arm, live
# self-tests, benchmark). Not part of `make test` (its Rust rebuilds cost minutes).
clippy-um: kernel-um
	@$(RUN) $(SRC)/scripts/kbuild.sh um CLIPPY=1

# rustfmt over this repo's kernel Rust, with the kernel tree's rules.
fmt-check: tree
	@$(RUN) $(SRC)/scripts/fmt-check.sh

kunit: kernel-um
	@$(RUN) $(SRC)/scripts/kunit.sh

# The module's KUnit suites on the arm64 kernel (16 KiB pages) under QEMU.
kunit-arm64: kernel-arm64
	@$(RUN) $(SRC)/scripts/kunit-arm64.sh

# UAT page tables against the kernel's io-pgtable-arm, then the memory ioctls from userspace
# in the simulated Mac (figures, not a pass/fail test).
bench: kernel-um model-bin uapi-test-bin
	@$(RUN) $(SRC)/scripts/bench.sh
	@tools/testing/sim/ioctl-bench.sh

# Tests of our own test tooling (KTAP summariser).
tools-test:
	@python3 tools/testing/run_unittests.py

# The userspace UAPI test: bindings from the kernel tree's headers (bindgen in the build
# root), built with the host's cargo; the simulated Mac runs it from /src/target.
UAPI_BINDINGS := $(BUILD)/uapi/bindings.rs
uapi-test-bin: tree
	@mkdir -p $(BUILD)/uapi
	@$(RUN) bindgen $(SRC)/tools/testing/uapi-test/uapi.h --allowlist-item '[Dd][Rr][Mm]_.*' \
		--no-layout-tests --no-doc-comments -o $(SRC)/.build/uapi/bindings.rs -- \
		-I$(SRC)/.build/linux/include/uapi -D__user= -Wno-\#warnings
	@ASAHI_UAPI_BINDINGS=$(UAPI_BINDINGS) cargo build --release --locked -q \
		--manifest-path tools/testing/uapi-test/Cargo.toml --target-dir $(CURDIR)/target
	@ASAHI_UAPI_BINDINGS=$(UAPI_BINDINGS) cargo test --release --locked -q \
		--manifest-path tools/testing/uapi-test/Cargo.toml --target-dir $(CURDIR)/target

cargo-test:
	cargo test --workspace --locked

fwgen-check:
	cargo run --release --locked -q -p fwgen -- check firmware-defs

test:
	@scripts/run-tests.sh

# The simulated AGX (host binary, serves UML over vhost-user).
model-bin:
	@cargo build --release --locked -q -p agx-model

# Boot the simulated Mac (SOC, FW), list the GPU through Mesa's vulkaninfo, and show the
# driver's and the model's view.
run: kernel-um model-bin
	@SIM_KARGS="sim.run=/src/tools/testing/sim/mesa-guest.sh,summary" scripts/sim.sh $(SOC) $(FW) || true
	@tools/testing/sim/report.sh $(SOC) $(FW)

# Inject firmware faults and check the probe fails cleanly.
sim-faults: kernel-um model-bin
	@tools/testing/sim/fault-tests.sh

# The UAPI test program inside the simulated Mac (t8103 and t6022, or SOC= FW=).
uapi-test: kernel-um model-bin uapi-test-bin
	@tools/testing/sim/uapi-test.sh

# Our Vulkan client for the simulated Mac (host-built; the guest runs it from /src/target).
vk-test-bin:
	@cargo build --release --locked -q -p vk-memory-test

# Debian's Mesa (vulkaninfo, vk-memory-test, eglinfo) on every SoC (SOC=, FW= pick one).
sim-mesa: kernel-um model-bin fwgen-bin vk-test-bin
	@tools/testing/sim/mesa.sh

# Boot every shipped SoC/firmware pair (SOC=, FW= pick some) and check the firmware came up.
sim-boot-all: kernel-um model-bin fwgen-bin
	@tools/testing/sim/boot-all.sh

clean:
	rm -rf $(BUILD)/out $(BUILD)/linux target
