#!/usr/bin/env python3
"""Summarise the KTAP results a kernel printed at boot, and fail on anything wrong.

KUnit suites built into the kernel run during boot and print KTAP to the console. We read
that log rather than trusting an exit code: a suite that crashed, hung or was not built in
prints no result line, so every suite the source declares (`kunit_tests(name)` in this repo)
and every suite named with --expect must appear with a result.

Output: one line per failed test, then `<label>: N passed, N failed, N skipped (S suites)`
(label `kunit` unless --label says otherwise).
Exit status: 0 only if nothing failed and no expected suite is missing.
"""

import argparse
import re
import sys
from pathlib import Path

TIMESTAMP = re.compile(r"^\[\s*\d+\.\d+\]\s?")
RESULT = re.compile(r"^(not ok|ok) (\d+) ([^#]*?)\s*(?:#\s*(\w+)(.*))?$")
SUITE_DECL = re.compile(r"kunit_tests\(\s*([A-Za-z0-9_]+)\s*\)")


def declared_suites(repo: Path) -> set[str]:
    """Suites declared by `#[kunit_tests(name)]` in this repo's kernel code."""
    names = set()
    for top in ("drivers", "rust"):
        for path in (repo / top).rglob("*.rs"):
            names.update(SUITE_DECL.findall(path.read_text(errors="replace")))
    return names


def parse(lines):
    """Returns (suite results, test results): lists of (name, status, suite)."""
    suites, tests = [], []
    subtest = {}  # indentation level -> name of the latest "# Subtest:" there
    for raw in lines:
        line = TIMESTAMP.sub("", raw.rstrip("\n"))
        stripped = line.lstrip(" ")
        level = (len(line) - len(stripped)) // 4
        m = re.match(r"# Subtest: (\S+)", stripped)
        if m:
            subtest[level] = m.group(1)
            continue
        m = RESULT.match(stripped)
        if not m:
            continue
        ok, _, name, directive, _ = m.groups()
        status = "pass" if ok == "ok" else "fail"
        if directive and directive.upper() == "SKIP":
            status = "skip"
        if level == 0:
            suites.append((name, status, None))
        elif level == 1:
            suite = subtest.get(1, "?")
            tests.append((name, status, suite))
    return suites, tests


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("log", type=Path, help="console log of the KUnit boot")
    ap.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[3])
    ap.add_argument("--expect", action="append", default=[], help="another suite that must run")
    ap.add_argument(
        "--optional",
        action="append",
        default=[],
        help="a declared suite this kernel's configuration does not build (need not run)",
    )
    ap.add_argument("--label", default="kunit", help="prefix of the output lines")
    args = ap.parse_args()

    suites, tests = parse(args.log.read_text(errors="replace").splitlines())
    seen = {name for name, _, _ in suites}
    expected = (declared_suites(args.repo) - set(args.optional)) | set(args.expect)
    label = args.label

    failed = [t for t in tests if t[1] == "fail"]
    failed_suites = [s for s in suites if s[1] == "fail"]
    missing = sorted(expected - seen)
    for name, _, suite in failed:
        print(f"{label}: FAILED {suite}.{name}")
    for name, _, _ in failed_suites:
        if not any(t[2] == name for t in failed):
            print(f"{label}: FAILED suite {name}")
    for name in missing:
        print(f"{label}: MISSING suite {name} (declared or expected, but printed no result)")
    if not suites:
        print(f"{label}: no KTAP results in the log (did the kernel boot?)")

    passed = sum(1 for t in tests if t[1] == "pass")
    skipped = sum(1 for t in tests if t[1] == "skip")
    nfailed = len(failed) + len(missing) + sum(
        1 for s in failed_suites if not any(t[2] == s[0] for t in failed)
    )
    ours = sorted(expected & seen)
    print(f"{label}: suites of ours that ran: {', '.join(ours) if ours else 'none'}")
    print(f"{label}: {passed} passed, {nfailed} failed, {skipped} skipped ({len(suites)} suites)")
    return 0 if suites and nfailed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
