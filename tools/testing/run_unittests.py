#!/usr/bin/env python3
"""Run the Python tests of our test tooling and print `tools-test: N passed, N failed`."""

import sys
import unittest
from pathlib import Path

here = Path(__file__).resolve().parent
suite = unittest.TestSuite()
for folder in sorted({p.parent for p in here.rglob("test_*.py")}):
    # A fresh loader per folder: one loader keeps the first top-level folder it was given.
    suite.addTests(unittest.TestLoader().discover(str(folder), pattern="test_*.py", top_level_dir=str(folder)))
result = unittest.TextTestRunner(verbosity=1).run(suite)
failed = len(result.failures) + len(result.errors)
print(f"tools-test: {result.testsRun - failed} passed, {failed} failed")
sys.exit(0 if result.wasSuccessful() and result.testsRun > 0 else 1)
