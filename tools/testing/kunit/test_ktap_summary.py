#!/usr/bin/env python3
"""Tests of the KTAP summariser: what `make kunit` reports decides whether `make test` fails."""

import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import ktap_summary  # noqa: E402

GOOD = """\
[    0.500000] KTAP version 1
[    0.500000] 1..2
[    0.510000]     KTAP version 1
[    0.510000]     # Subtest: asahi_demo
[    0.510000]     # module: asahi
[    0.510000]     1..2
[    0.510000]     ok 1 first
[    0.510000]     ok 2 second # SKIP not here
[    0.510000] # asahi_demo: pass:1 fail:0 skip:1 total:2
[    0.510000] ok 1 asahi_demo
[    0.520000]     KTAP version 1
[    0.520000]     # Subtest: other_suite
[    0.520000]     1..1
[    0.520000]     ok 1 only
[    0.520000] ok 2 other_suite
"""

FAILING = GOOD.replace("    ok 1 first", "    not ok 1 first").replace(
    "ok 1 asahi_demo", "not ok 1 asahi_demo"
)


class SummaryTest(unittest.TestCase):
    def run_summary(self, log: str, declared=("asahi_demo",), expect=(), extra=()):
        with tempfile.TemporaryDirectory() as tmp:
            repo = Path(tmp)
            (repo / "drivers").mkdir()
            (repo / "rust").mkdir()
            body = "".join(f"#[kunit_tests({name})]\nmod t{i} {{}}\n" for i, name in enumerate(declared))
            (repo / "drivers" / "x.rs").write_text(body)
            (repo / "kunit.log").write_text(log)
            args = [sys.executable, str(HERE / "ktap_summary.py"), "--repo", str(repo), str(repo / "kunit.log")]
            for e in expect:
                args += ["--expect", e]
            args += list(extra)
            return subprocess.run(args, capture_output=True, text=True)

    def test_parse_counts_tests_by_suite(self):
        suites, tests = ktap_summary.parse(GOOD.splitlines())
        self.assertEqual([s[0] for s in suites], ["asahi_demo", "other_suite"])
        self.assertEqual(
            tests,
            [("first", "pass", "asahi_demo"), ("second", "skip", "asahi_demo"), ("only", "pass", "other_suite")],
        )

    def test_good_run_passes(self):
        r = self.run_summary(GOOD)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn("kunit: 2 passed, 0 failed, 1 skipped (2 suites)", r.stdout)

    def test_failing_assertion_fails_and_is_named(self):
        r = self.run_summary(FAILING)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("kunit: FAILED asahi_demo.first", r.stdout)
        self.assertIn("1 failed", r.stdout)

    def test_declared_suite_that_did_not_run_fails(self):
        r = self.run_summary(GOOD, declared=("asahi_demo", "asahi_missing"))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("MISSING suite asahi_missing", r.stdout)

    def test_expected_suite_that_did_not_run_fails(self):
        r = self.run_summary(GOOD, expect=("rust_doctests_kernel",))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("MISSING suite rust_doctests_kernel", r.stdout)

    def test_optional_suite_may_be_absent_but_others_may_not(self):
        declared = ("asahi_demo", "asahi_bench", "asahi_missing")
        r = self.run_summary(GOOD, declared=declared, extra=["--optional", "asahi_bench"])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("MISSING suite asahi_missing", r.stdout)
        self.assertNotIn("asahi_bench", r.stdout)
        r = self.run_summary(GOOD, declared=declared[:2], extra=["--optional", "asahi_bench"])
        self.assertEqual(r.returncode, 0, r.stdout)

    def test_label_names_the_stage_in_every_line(self):
        r = self.run_summary(FAILING, extra=["--label", "kunit-arm64"])
        self.assertIn("kunit-arm64: FAILED asahi_demo.first", r.stdout)
        self.assertIn("kunit-arm64: 1 passed, 1 failed, 1 skipped (2 suites)", r.stdout)
        self.assertNotIn("\nkunit:", "\n" + r.stdout)

    def test_no_results_at_all_fails(self):
        r = self.run_summary("[    0.1] Kernel panic - not syncing\n", declared=())
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("no KTAP results", r.stdout)


if __name__ == "__main__":
    unittest.main()
