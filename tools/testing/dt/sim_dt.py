#!/usr/bin/env python3
"""Build the simulated Mac's device tree from the real Linux 7.2 Apple device trees.

The GPU node (upstream binding gpu/apple,agx.yaml), its ASC mailbox and the six
reserved-memory regions are taken from the SoC's board DTS in the kernel tree, not retyped:
the board file is preprocessed and compiled with dtc, the nodes are found through the GPU's
own phandles, and their properties are carried over.  What changes, and why:

- Register blocks move into UML's virtio platform window (0x10000000-0x1fffffff) under one
  `virtio,uml` + `simple-bus` parent: UML serves one platform-mode device, so one model
  process plays every block.  UML forwards only the low 24 bits of an MMIO address
  (lib/logic_iomem.c gives each ioremap a 16 MiB area), so every block must sit in the first
  16 MiB, which the 16 MiB `sgx` block fills alone: `asc` goes at sgx + 0x400000, a range of
  sgx the driver never touches, with the mailbox at its real offset inside `asc`.  The model
  uses the same placement (tools/agx-model/src/layout.rs).
- The mailbox's four interrupts are routed to that bus node, which is an interrupt
  controller fed by the model's MSI messages (patches/0005): hwirq 0..3 in binding order.
- `power-domains` is dropped (optional in the binding): the GPU's power domain chain would
  need a model of the whole PMGR; the driver only uses runtime PM on its own device.
- As m1n1 does on a Mac, the reserved regions get addresses (here in UML RAM) and are
  enabled, and `apple,firmware-abi` is written for the chosen firmware.

A JSON layout of the translated blocks and regions is written beside the DTS for the model.

Usage: sim_dt.py --tree LINUX --soc t8103 --fw 13.5 --socket PATH --out BASE
       (writes BASE.dts and BASE.json)
"""

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

BOARDS = {
    "t8103": "t8103-j274",
    "t8112": "t8112-j473",
    "t6000": "t6000-j314s",
    "t6001": "t6001-j314c",
    "t6002": "t6002-j375d",
    "t6020": "t6020-j414s",
    "t6021": "t6021-j414c",
    "t6022": "t6022-j475d",
}
FIRMWARE = {"12.3": (12, 3, 0), "12.4": (12, 4, 0), "13.5": (13, 5, 0)}
WINDOW_BASE, REACHABLE = 0x1000_0000, 0x100_0000
SGX_OFFSET, ASC_OFFSET = 0x0, 0x40_0000
# UML's TLB bridge (patches/0008): the model serves it next to its interrupt block.
TLBI_OFFSET, TLBI_SIZE = 0xff_e000, 0x1000
# Must match CONFIG_UML_PCI_OVER_VIRTIO_DEVICE_ID in tools/testing/configs/um.config.
VIRTIO_DEVICE_ID = 1234
# Reserved regions: (binding name, size).  Placed from REGION_BASE up, 16 KiB aligned.  The
# calibration blobs are sized to hold the largest variant's structure (HwDataA 0x6c34,
# HwDataB 0x1884, Globals 0x1715c: shared/research/asahi-driver-facts.md section 3.1).
REGION_BASE = 0x3000_0000
REGIONS = [
    ("ttbs", 0x4000),
    ("pagetables", 0x10_0000),
    ("handoff", 0x4000),
    ("hw-cal-a", 0x8000),
    ("hw-cal-b", 0x4000),
    ("globals", 0x1_8000),
]


class Node:
    def __init__(self, name, label=None):
        self.name, self.label = name, label
        self.props = {}  # name -> raw value text (None for boolean)
        self.children = []

    def walk(self):
        yield self
        for c in self.children:
            yield from c.walk()


TOKEN = re.compile(r'\s*(/\*.*?\*/|"(?:\\.|[^"\\])*"|<[^>]*>|\[[^\]]*\]|[{};=]|[^\s{};=]+)', re.S)


def parse_dts(text):
    """Parses dtc's normalised DTS output into a Node tree (root node returned)."""
    toks = [t for t in TOKEN.findall(text) if t and not t.startswith("/*")]
    pos = 0

    def node(name, label):
        nonlocal pos
        n = Node(name, label)
        while toks[pos] != "}":
            words = []
            while toks[pos] not in ("{", ";", "="):
                words.append(toks[pos])
                pos += 1
            if toks[pos] == "{":
                pos += 1
                lbl = words[0][:-1] if len(words) > 1 and words[0].endswith(":") else None
                n.children.append(node(words[-1], lbl))
            elif toks[pos] == "=":
                pos += 1
                value = []
                while toks[pos] != ";":
                    value.append(toks[pos])
                    pos += 1
                pos += 1
                n.props[words[-1]] = " ".join(value)
            else:
                pos += 1
                if words:
                    n.props[words[-1]] = None
        pos += 2  # "}" ";"
        return n

    while toks[pos] != "/" or toks[pos + 1] != "{":
        pos += 1
    pos += 2
    return node("/", None)


def cells(value):
    """The numbers of a `<...>` property value."""
    out = []
    for group in re.findall(r"<([^>]*)>", value):
        out += [int(x, 0) for x in group.split()]
    return out


def strings(value):
    return re.findall(r'"((?:\\.|[^"\\])*)"', value)


def compile_board(tree: Path, board: str) -> str:
    dts_dir = tree / "arch/arm64/boot/dts"
    src = dts_dir / "apple" / f"{board}.dts"
    pre = subprocess.run(
        ["cpp", "-nostdinc", "-undef", "-D__DTS__", "-x", "assembler-with-cpp", "-P",
         "-I", str(dts_dir), "-I", str(tree / "include"), "-I", str(dts_dir / "apple"), str(src)],
        check=True, capture_output=True, text=True).stdout
    # Through a DTB and back, so that phandle references come out as numbers.
    dtb = subprocess.run(["dtc", "-q", "-I", "dts", "-O", "dtb", "-"], input=pre.encode(),
                         check=True, capture_output=True).stdout
    return subprocess.run(["dtc", "-q", "-I", "dtb", "-O", "dts", "-"], input=dtb,
                          check=True, capture_output=True).stdout.decode()


def fmt_reg(addr, size):
    return f"<0x{addr >> 32:x} 0x{addr & 0xffffffff:x} 0x{size >> 32:x} 0x{size & 0xffffffff:x}>"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tree", type=Path, required=True)
    ap.add_argument("--soc", choices=sorted(BOARDS), required=True)
    ap.add_argument("--fw", choices=sorted(FIRMWARE), required=True)
    ap.add_argument("--socket", required=True)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()

    root = parse_dts(compile_board(args.tree, BOARDS[args.soc]))
    by_phandle = {cells(n.props["phandle"])[0]: n for n in root.walk() if "phandle" in n.props}
    gpus = [n for n in root.walk()
            if "compatible" in n.props and any(c.startswith("apple,agx-g1") for c in strings(n.props["compatible"]))]
    if len(gpus) != 1:
        sys.exit(f"sim_dt: expected one AGX GPU node in {BOARDS[args.soc]}, found {len(gpus)}")
    gpu = gpus[0]
    mbox = by_phandle[cells(gpu.props["mboxes"])[0]]
    region_nodes = [by_phandle[p] for p in cells(gpu.props["memory-region"])]
    region_names = strings(gpu.props["memory-region-names"])
    if region_names != [r[0] for r in REGIONS]:
        sys.exit(f"sim_dt: unexpected memory-region-names {region_names}")

    # Register blocks, translated into the platform window.
    def regs(n):
        c = cells(n.props["reg"])
        return [((c[i] << 32) | c[i + 1], (c[i + 2] << 32) | c[i + 3]) for i in range(0, len(c), 4)]

    blocks = dict(zip(strings(gpu.props["reg-names"]), regs(gpu)))
    blocks["mbox"] = regs(mbox)[0]
    asc_real = blocks["asc"][0]
    moved = {
        "sgx": (WINDOW_BASE + SGX_OFFSET, blocks["sgx"][1]),
        "asc": (WINDOW_BASE + ASC_OFFSET, blocks["asc"][1]),
        "mbox": (WINDOW_BASE + ASC_OFFSET + blocks["mbox"][0] - asc_real, blocks["mbox"][1]),
        "tlbi": (WINDOW_BASE + TLBI_OFFSET, TLBI_SIZE),
    }
    for name, (a, s) in moved.items():
        if a + s > WINDOW_BASE + REACHABLE:
            sys.exit(f"sim_dt: {name} block does not fit the reachable part of UML's window")

    placed, addr = {}, REGION_BASE
    for name, size in REGIONS:
        placed[name] = (addr, size)
        addr += size

    skip_gpu = {"reg", "mboxes", "memory-region", "power-domains", "apple,firmware-abi", "phandle"}
    skip_mbox = {"reg", "interrupt-parent", "interrupts", "phandle"}
    major, minor, patch = FIRMWARE[args.fw]
    lines = [
        "/dts-v1/;",
        f"/* Generated by tools/testing/dt/sim_dt.py from arch/arm64/boot/dts/apple/{BOARDS[args.soc]}.dts */",
        "/ {",
        "\t#address-cells = <2>;",
        "\t#size-cells = <2>;",
        f'\tmodel = "asahi-agx simulated {args.soc} ({BOARDS[args.soc]})";',
        "",
        "\treserved-memory {",
        "\t\t#address-cells = <2>;",
        "\t\t#size-cells = <2>;",
        "\t\tranges;",
    ]
    for (name, _), node in zip(REGIONS, region_nodes):
        a, s = placed[name]
        lines.append(f"\t\t{'region_' + name.replace('-', '_')}: {node.name.split('@')[0]}@{a:x} {{")
        for k, v in node.props.items():
            if k in ("status", "reg", "phandle"):
                continue
            lines.append(f"\t\t\t{k};" if v is None else f"\t\t\t{k} = {v};")
        # No `no-map`: UML can only memremap memory that stays in its linear map (its ioremap
        # serves the virtio window alone); the regions are still reserved from the allocator.
        lines += [f"\t\t\treg = {fmt_reg(a, s)};", "\t\t};"]
    lines += [
        "\t};",
        "",
        "\tvirtio-agx {",
        '\t\tcompatible = "virtio,uml";',
        "\t\t#address-cells = <2>;",
        "\t\t#size-cells = <2>;",
        "\t\tranges;",
        f'\t\tsocket-path = "{args.socket}";',
        f"\t\tvirtio-device-id = <{VIRTIO_DEVICE_ID}>;",
        "",
        "\t\tagx_bus: bus {",
        f'\t\t\tcompatible = "virtio,device{VIRTIO_DEVICE_ID:x}", "simple-bus";',
        "\t\t\t#address-cells = <2>;",
        "\t\t\t#size-cells = <2>;",
        "\t\t\tranges;",
        "\t\t\tinterrupt-controller;",
        "\t\t\t#interrupt-cells = <1>;",
        "",
        f"\t\t\tgpu: gpu@{moved['asc'][0]:x} {{",
    ]
    for k, v in gpu.props.items():
        if k not in skip_gpu:
            lines.append(f"\t\t\t\t{k};" if v is None else f"\t\t\t\t{k} = {v};")
    lines += [
        f"\t\t\t\treg = {fmt_reg(*moved['asc'])}, {fmt_reg(*moved['sgx'])};",
        "\t\t\t\tmboxes = <&agx_mbox>;",
        "\t\t\t\tmemory-region = " + ", ".join(f"<&{'region_' + r[0].replace('-', '_')}>" for r, n in zip(REGIONS, region_nodes)) + ";",
        f"\t\t\t\tapple,firmware-abi = <{major} {minor} {patch}>;",
        "\t\t\t};",
        "",
        f"\t\t\tagx_mbox: mbox@{moved['mbox'][0]:x} {{",
    ]
    for k, v in mbox.props.items():
        if k not in skip_mbox:
            lines.append(f"\t\t\t\t{k};" if v is None else f"\t\t\t\t{k} = {v};")
    lines += [
        f"\t\t\t\treg = {fmt_reg(*moved['mbox'])};",
        "\t\t\t\tinterrupt-parent = <&agx_bus>;",
        "\t\t\t\tinterrupts = <0>, <1>, <2>, <3>;",
        "\t\t\t};",
        "",
        "\t\t\t/* Stands in for the TLBI broadcast the GPU snoops on a Mac (patches/0008). */",
        f"\t\t\ttlbi-bridge@{moved['tlbi'][0]:x} {{",
        '\t\t\t\tcompatible = "linux,um-tlbi-bridge";',
        f"\t\t\t\treg = {fmt_reg(*moved['tlbi'])};",
        "\t\t\t};",
        "\t\t};",
        "\t};",
        "};",
    ]
    args.out.with_suffix(".dts").write_text("\n".join(lines) + "\n")
    layout = {
        "soc": args.soc,
        "board": BOARDS[args.soc],
        "compatible": strings(gpu.props["compatible"]),
        "firmware": args.fw,
        "window_base": WINDOW_BASE,
        "blocks": {k: {"base": a, "size": s, "real_base": blocks[k][0] if k in blocks else None} for k, (a, s) in moved.items()},
        "mbox_irqs": strings(mbox.props.get("interrupt-names", "")),
        "regions": {k: {"base": a, "size": s} for k, (a, s) in placed.items()},
        "socket": args.socket,
        "virtio_device_id": VIRTIO_DEVICE_ID,
    }
    args.out.with_suffix(".json").write_text(json.dumps(layout, indent=2) + "\n")


if __name__ == "__main__":
    main()
