#!/usr/bin/env python3
"""The CI matrix (.github/workflows/sim-pairs.yml) lists exactly the shipped SoC/firmware pairs.

The pairs come from firmware-defs/variants.toml (each [[soc]]'s variants, each variant's
firmware release), the same data `fwgen pairs` prints: a pair added there and forgotten in
the workflow, or a pair in the workflow that no variant backs, fails here.
"""

import re
import tomllib
import unittest
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
ROW = re.compile(r'^\s*-\s*\{\s*soc:\s*(\w+),\s*fw:\s*"([0-9.]+)"\s*\}\s*$')


def shipped_pairs() -> list[tuple[str, str]]:
    data = tomllib.loads((REPO / "firmware-defs" / "variants.toml").read_text())
    firmware = {v["name"]: v["firmware"] for v in data["variant"]}
    pairs = []
    for soc in data["soc"]:
        for name in soc["variants"]:
            major, minor, patch = firmware[name]
            pairs.append((soc["name"], f"{major}.{minor}" + (f".{patch}" if patch else "")))
    return pairs


def matrix_pairs(text: str) -> list[tuple[str, str]]:
    return [m.groups() for m in map(ROW.match, text.splitlines()) if m]


class WorkflowMatrixTest(unittest.TestCase):
    def test_matrix_is_the_shipped_pairs(self):
        text = (REPO / ".github" / "workflows" / "sim-pairs.yml").read_text()
        self.assertEqual(sorted(matrix_pairs(text)), sorted(shipped_pairs()))

    def test_thirteen_pairs_ship(self):
        self.assertEqual(len(shipped_pairs()), 13)

    def test_a_missing_row_is_noticed(self):
        text = (REPO / ".github" / "workflows" / "sim-pairs.yml").read_text()
        dropped = text.replace('- { soc: t8112, fw: "12.4" }\n', "")
        self.assertNotEqual(sorted(matrix_pairs(dropped)), sorted(shipped_pairs()))


if __name__ == "__main__":
    unittest.main()
