"""Mutation testing of the firmware: every small change to a safety module must fail a test.

Maintained tools cannot reach our firmware: mutmut 3 rewrites functions into
trampolines that import ``mutmut`` (absent on MicroPython), mutatest only patches
CPython's ``__pycache__``, which the unix port never reads. So this runner makes
each mutant by splicing one AST-level change into the source, writes it into a
temporary copy of ``firmware/``, and runs pytest with ``CUPCTL_FIRMWARE_DIR``
pointing at that copy, so the CPython tests and the unix-port tests both load
the mutant. See docs/mutation.md.

    python -m tools.mutate                        # every module, 2 jobs
    python -m tools.mutate regulator programs -j 1
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tokenize
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIRMWARE = ROOT / "firmware"
EQUIVALENTS = ROOT / "docs" / "mutation-equivalents.md"
REPORT_DIR = ROOT / "build" / "mutation"

OPERATORS = {
    "cmp": "comparison swapped: < <=, > >=, == !=, in / not in, is / is not",
    "boolop": "and <-> or",
    "negate": "if/while/ternary condition negated",
    "delete": "simple statement replaced by pass",
    "number": "integer constant n -> n+1 and n -> n-1 (0 -> 1, 1 -> 0)",
    "truefalse": "True <-> False",
    "return": "return X -> return 0",
}

_CMP_SWAP = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In,
    ast.Is: ast.IsNot, ast.IsNot: ast.Is,
}
_SIMPLE_STATEMENTS = (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Expr, ast.Return, ast.Raise,
                      ast.Continue, ast.Break, ast.Delete, ast.Assert)

# Tests that exercise each module, fastest and most specific first (pytest -x stops at the first
# failure, so a mutant usually dies in the first file; a survivor pays for all of them). select_tests()
# puts any other test file that imports the module in front, so a new unit test counts without an edit.
TESTS = {
    "supervisor": ["test_supervisor.py", "test_rules.py", "test_controller.py", "test_hazards.py",
                   "test_scenarios.py", "test_corpus.py", "test_alloc.py"],
    "controller": ["test_controller.py", "test_supervisor.py", "test_rules.py", "test_hazards.py",
                   "test_scenarios.py", "test_corpus.py", "test_alloc.py"],
    "effort": ["test_supervisor_rules.py", "test_hazards.py", "test_scenarios.py", "test_rules.py", "test_alloc.py"],
    "observer": ["test_supervisor.py", "test_hazards.py", "test_rules.py", "test_scenarios.py", "test_alloc.py"],
    "ambient": ["test_controller.py", "test_hazards.py", "test_scenarios.py", "test_corpus.py"],
    "deadman": ["test_deadman.py", "test_hazards.py", "test_alloc.py"],
    "bootmemory": ["test_controller.py", "test_hazards.py", "test_corpus.py"],
    "regulator": ["test_regulator.py", "test_corpus.py", "test_scenarios.py", "test_rules.py", "test_alloc.py"],
    "programs": ["test_programs.py", "test_programs_bounds.py", "test_protocol.py", "test_corpus.py",
                 "test_scenarios.py"],
    "mprls": ["test_mprls.py", "test_mprls_errors.py", "test_plant.py", "test_corpus.py", "test_rules.py",
              "test_scenarios.py", "test_alloc.py"],
}

# `make mutate`'s default: the five modules whose scores issue #16 sets goals for, and effort.py, the rule
# carved out of the supervisor since (held to the supervisor's goal); the rest on request.
DEFAULT_MODULES = ["supervisor", "effort", "controller", "regulator", "programs", "mprls"]

# Left out, to finish within an hour: the virtual-board tests (the firmware in real time behind a pty),
# boot.py/main.py on the unix port (30 s), random sessions and fuzzed command lines (20 s under load).
SLOW = {"test_vboard.py", "test_robustness.py", "test_deploy.py", "test_make_sim.py", "test_soak.py",
        "test_boot_main.py", "test_safety_properties.py", "test_protocol_unix.py"}


def select_tests(module: str) -> list[str]:
    """The module's test files: any other (not slow) test file that imports it first, then TESTS."""
    listed = [name for name in TESTS[module] if (ROOT / "tests" / name).exists()]
    imports = re.compile(r"^\s*from cupfw(\.%s import| import [\w, ]*\b%s\b)" % (module, module), re.M)
    extra = sorted(path.name for path in (ROOT / "tests").glob("test_*.py")
                   if path.name not in listed and path.name not in SLOW and imports.search(path.read_text()))
    return extra + listed


# Tests that compare CPython with the unix port: a mutant is in both alike, so they cannot catch it.
DESELECT = "not identical_on_micropython"


@dataclass(frozen=True)
class Mutant:
    path: str  # relative to the repository root, e.g. "firmware/regulator.py"
    line: int
    operator: str
    original: str  # the source line(s) touched, stripped
    mutated: str  # the same line(s) with the change
    start: int  # byte span of the replaced node in the source
    end: int
    replacement: str

    @property
    def key(self):
        """Stable id: the line number is left out, so an edit elsewhere in the file keeps it."""
        return (self.path, self.operator, self.original, self.mutated)

    def describe(self):
        return "%s:%d %s `%s` `%s`" % (self.path, self.line, self.operator, self.original, self.mutated)


# --- generating mutants ---

def _changes(node, is_docstring):
    """Yield (operator, node_to_replace, replacement_text) for one AST node."""
    if isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            swapped = _CMP_SWAP.get(type(op))
            if swapped:
                ops = list(node.ops)
                ops[i] = swapped()
                yield "cmp", node, "(%s)" % ast.unparse(ast.Compare(node.left, ops, node.comparators))
    elif isinstance(node, ast.BoolOp):
        other = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        yield "boolop", node, "(%s)" % ast.unparse(ast.BoolOp(other, node.values))
    elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
        yield "truefalse", node, str(not node.value)
    elif isinstance(node, ast.Constant) and type(node.value) is int:
        yield "number", node, node.value + 1
        if node.value > 0:
            yield "number", node, node.value - 1
    if isinstance(node, (ast.If, ast.While, ast.IfExp)):
        test = node.test
        negated = test.operand if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not) \
            else ast.UnaryOp(ast.Not(), test)
        yield "negate", test, "(%s)" % ast.unparse(negated)
    if isinstance(node, ast.Return) and node.value is not None and not isinstance(node.value, ast.Constant):
        yield "return", node.value, "0"
    if isinstance(node, _SIMPLE_STATEMENTS) and not is_docstring:
        yield "delete", node, "pass"


def _number(value, written):
    """``value`` in the base the source wrote it in (0x40 -> 0x41)."""
    text = hex(value) if written.lower().startswith("0x") else str(value)
    return "(%s)" % text if value < 0 else text


def _is_docstring(node):
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def generate(source: str, path: str) -> list[Mutant]:
    """Every mutant of ``source``, in source order, duplicates (same resulting text) removed."""
    data = source.encode()
    lines = data.splitlines(keepends=True)
    offsets = [0]
    for text in lines:
        offsets.append(offsets[-1] + len(text))
    comments = _comment_starts(source)
    mutants, seen = [], set()
    for node in ast.walk(ast.parse(source)):
        for operator, target, replacement in _changes(node, _is_docstring(node)):
            start = offsets[target.lineno - 1] + target.col_offset
            end = offsets[target.end_lineno - 1] + target.end_col_offset
            if operator == "number":
                replacement = _number(replacement, data[start:end].decode())
            first, last = offsets[target.lineno - 1], offsets[target.end_lineno]
            cut = min((c for c in comments if end <= c < last), default=last)  # drop a trailing comment
            touched = data[first:cut]
            changed = data[first:start] + replacement.encode() + data[end:cut]
            mutant = Mutant(path, target.lineno, operator, _flat(touched), _flat(changed), start, end, replacement)
            if (start, end, replacement) not in seen:  # e.g. a number inside a negated condition
                seen.add((start, end, replacement))
                mutants.append(mutant)
    mutants.sort(key=lambda m: (m.line, m.start, m.operator, m.replacement))
    return mutants


def _comment_starts(source: str) -> list[int]:
    """Byte offsets of every comment, so the mutant's id does not change with its comments."""
    data = source.encode()
    offsets = [0]
    for text in data.splitlines(keepends=True):
        offsets.append(offsets[-1] + len(text))
    tokens = tokenize.tokenize(iter(data.splitlines(keepends=True)).__next__)
    return [offsets[t.start[0] - 1] + len(t.line[:t.start[1]].encode()) for t in tokens if t.type == tokenize.COMMENT]


def _flat(code: bytes) -> str:
    return " ".join(part.strip() for part in code.decode().splitlines()).strip()


def apply(source: str, mutant: Mutant) -> str:
    data = source.encode()
    return (data[:mutant.start] + mutant.replacement.encode() + data[mutant.end:]).decode()


# --- equivalent mutants, claimed in docs/mutation-equivalents.md ---

_CLAIM = re.compile(r"^- (?P<path>\S+):(?P<line>\d+) (?P<op>\w+) `(?P<orig>[^`]*)` `(?P<mut>[^`]*)`: (?P<why>\S.*)$")


def load_equivalents(path: Path = EQUIVALENTS) -> list[tuple[tuple, int, str]]:
    """[(mutant key, line, reason)] from the claims list; a malformed claim line is an error."""
    claims = []
    for number, text in enumerate(path.read_text().splitlines(), 1):
        if not text.startswith("- firmware/"):
            continue
        match = _CLAIM.match(text)
        if not match:
            raise ValueError("%s:%d: not a claim line (- FILE:LINE OP `ORIGINAL` `MUTATED`: reason)" % (path, number))
        if match["op"] not in OPERATORS:
            raise ValueError("%s:%d: unknown operator %r" % (path, number, match["op"]))
        claims.append(((match["path"], match["op"], match["orig"], match["mut"]), int(match["line"]), match["why"]))
    return claims


def match_equivalents(mutants: list[Mutant], claims) -> tuple[dict, list]:
    """({mutant: reason}, stale claims). The line only tells apart mutants with the same text."""
    claimed, stale = {}, []
    for key, line, reason in claims:
        candidates = [m for m in mutants if m.key == key and m not in claimed]
        if not candidates:
            stale.append((key, line))
            continue
        claimed[min(candidates, key=lambda m: abs(m.line - line))] = reason
    return claimed, stale


# --- running ---

_lock = threading.Lock()
_running = set()  # the pytest processes in flight, killed if the runner is interrupted
_stopping = threading.Event()


def _kill_all():
    with _lock:
        _stopping.set()
        for proc in _running:
            os.killpg(proc.pid, signal.SIGKILL)


def run_tests(firmware_dir: Path, tests: list[str], timeout: float, scratch: Path):
    """Run the tests against ``firmware_dir``: ("passed" | "failed" | "timeout" | "error", detail)."""
    # Hypothesis gets its own example database: failures a mutant finds must not replay in the real suite.
    env = dict(os.environ, CUPCTL_FIRMWARE_DIR=str(firmware_dir), PYTHONDONTWRITEBYTECODE="1",
               HYPOTHESIS_STORAGE_DIRECTORY=str(scratch / "hypothesis"))
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "--basetemp", str(scratch / "pt"),
           "-k", DESELECT, *("tests/" + name for name in tests)]
    with _lock:
        if _stopping.is_set():
            return "error", "interrupted"
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)  # own group: a timeout kills micropython children too
        _running.add(proc)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return "timeout", ""
    finally:
        with _lock:
            _running.discard(proc)
    if proc.returncode == 0:
        return "passed", ""
    failed = re.search(r"^(?:FAILED|ERROR) (\S+)", out, re.M)
    if proc.returncode in (1, 2):  # 2: a mutant that breaks import interrupts collection
        return "failed", failed[1] if failed else (out.strip().splitlines() or [""])[-1]
    return "error", out[-500:]


def _copy_firmware(dest: Path):
    shutil.copytree(FIRMWARE, dest, ignore=shutil.ignore_patterns("__pycache__"))


def run_mutant(mutant: Mutant, source: str, tests: list[str], timeout: float) -> tuple[str, str]:
    with tempfile.TemporaryDirectory(prefix="mutant-") as tmp:
        copy = Path(tmp) / "firmware"
        _copy_firmware(copy)
        (copy / Path(mutant.path).name).write_text(apply(source, mutant))
        outcome, detail = run_tests(copy, tests, timeout, Path(tmp))
    return {"passed": "survived", "failed": "killed"}.get(outcome, outcome), detail


def baseline(tests: list[str]) -> float:
    """Seconds for the unmutated firmware; raises if its tests do not pass."""
    with tempfile.TemporaryDirectory(prefix="mutant-") as tmp:
        copy = Path(tmp) / "firmware"
        _copy_firmware(copy)
        began = time.monotonic()
        outcome, detail = run_tests(copy, tests, 3600, Path(tmp))
    if outcome != "passed":
        raise SystemExit("mutate: the tests fail on the unmutated firmware (%s): %s" % (outcome, detail))
    return time.monotonic() - began


@dataclass
class Result:
    mutant: Mutant
    status: str  # killed | survived | timeout | error
    detail: str
    equivalent: str | None  # the claimed reason, if any


def summarise(module: str, results: list[Result]) -> dict:
    counts = Counter(r.status for r in results if not (r.equivalent and r.status == "survived"))
    equivalent = sum(1 for r in results if r.equivalent and r.status == "survived")
    scored = len(results) - equivalent
    killed = counts["killed"] + counts["timeout"]
    return {"module": module, "total": len(results), "killed": counts["killed"], "survived": counts["survived"],
            "timeout": counts["timeout"], "error": counts["error"], "equivalent": equivalent,
            "score": 100.0 * killed / scored if scored else 100.0}


def report(summaries, results, stale, seconds) -> str:
    out = ["Mutation testing: %d mutants in %.0f s" % (len(results), seconds), "",
           "%-12s %6s %7s %9s %8s %6s %11s %7s" % (
               "module", "total", "killed", "survived", "timeout", "error", "equivalent", "score")]
    for s in summaries:
        out.append("%-12s %6d %7d %9d %8d %6d %11d %6.1f%%" % (
            s["module"], s["total"], s["killed"], s["survived"], s["timeout"], s["error"], s["equivalent"],
            s["score"]))
    out.append("score = (killed + timeout) / (total - equivalent)")
    sections = (
        ("Survivors (no selected test fails)", [r for r in results if r.status == "survived" and not r.equivalent]),
        ("Timeouts (counted as killed)", [r for r in results if r.status == "timeout"]),
        ("Errors (the test run itself broke)", [r for r in results if r.status == "error"]),
        ("Claimed equivalent but killed: the claim is wrong", [r for r in results
                                                              if r.equivalent and r.status != "survived"]),
    )
    for title, rows in sections:
        if rows:
            out += ["", "%s: %d" % (title, len(rows))] + [r.mutant.describe() for r in rows]
    if stale:
        out += ["", "Equivalent claims matching no mutant (stale, update docs/mutation-equivalents.md):"]
        out += ["%s:%d %s `%s` `%s`" % (key[0], line, *key[1:]) for key, line in stale]
    return "\n".join(out) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tools.mutate", description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", default=DEFAULT_MODULES,
                        help="firmware modules (default: %%(default)s; also %s)" % ", ".join(
                            m for m in TESTS if m not in DEFAULT_MODULES))
    parser.add_argument("-j", "--jobs", type=int, default=2, help="mutants run in parallel (default: 2)")
    parser.add_argument("--tests", nargs="+", metavar="FILE",
                        help="run these test files (names in tests/) instead of each module's selection")
    parser.add_argument("--timeout-factor", type=float, default=3.0,
                        help="a mutant times out after this many times the unmutated run, plus 10 s (default: 3)")
    args = parser.parse_args(argv)
    unknown = [m for m in args.modules if m not in TESTS]
    if unknown:
        parser.error("no test selection for %s (have: %s)" % (", ".join(unknown), ", ".join(TESTS)))
    claims = load_equivalents()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("mutate: terminated"))
    pool = ThreadPoolExecutor(max_workers=args.jobs)
    run = Run()
    try:
        _run(args, claims, pool, run)
    except BaseException:  # Ctrl-C included: the pytest runs live in their own process groups
        pool.shutdown(wait=False, cancel_futures=True)
        _kill_all()
        if run.results:
            run.finish(args.modules, "INTERRUPTED after %d of %d mutants: a partial report" % (
                len(run.results), run.total))
        raise
    pool.shutdown()
    run.finish(args.modules, "")


class Run:
    """Results as they come in, so an interrupted run still reports what it finished."""

    def __init__(self):
        self.began = time.monotonic()
        self.results = []
        self.total = 0
        self.stale = []

    def finish(self, modules, note):
        seconds = time.monotonic() - self.began
        order = {id(r): (r.mutant.path, r.mutant.line, r.mutant.start) for r in self.results}
        everything = sorted(self.results, key=lambda r: order[id(r)])
        summaries = [summarise(m, [r for r in everything if r.mutant.path == "firmware/%s.py" % m])
                     for m in modules]
        text = report(summaries, everything, self.stale, seconds)
        write_report(note + "\n" + text if note else text, summaries, everything, seconds)


def write_report(text, summaries, everything, seconds):
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    (REPORT_DIR / "report.txt").write_text(text)
    (REPORT_DIR / "report.json").write_text(json.dumps({
        "seconds": round(seconds), "summaries": summaries,
        "mutants": [{"path": r.mutant.path, "line": r.mutant.line, "operator": r.mutant.operator,
                     "original": r.mutant.original, "mutated": r.mutant.mutated, "status": r.status,
                     "detail": r.detail, "equivalent": r.equivalent} for r in everything]}, indent=1))
    print(text + "Report: %s" % (REPORT_DIR / "report.txt"))


def _run(args, claims, pool, run):
    tests = {m: args.tests or select_tests(m) for m in args.modules}
    sources = {m: (FIRMWARE / (m + ".py")).read_text() for m in args.modules}
    work = []
    for module, clean in zip(args.modules, pool.map(baseline, tests.values())):
        mutants = generate(sources[module], "firmware/%s.py" % module)
        timeout = args.timeout_factor * clean + 10
        print("%s: %d mutants, %d test files, unmutated run %.1f s, timeout %.0f s" % (
            module, len(mutants), len(tests[module]), clean, timeout), flush=True)
        work += [(module, m, sources[module], tests[module], timeout) for m in mutants]
    claimed, run.stale = match_equivalents([item[1] for item in work],
                                           [c for c in claims if c[0][0] in {m.path for _, m, *_ in work}])
    run.total = len(work)

    def one(item):
        module, mutant, source, tests, timeout = item
        status, detail = run_mutant(mutant, source, tests, timeout)
        return Result(mutant, status, str(detail), claimed.get(mutant))

    for future in as_completed([pool.submit(one, item) for item in work]):
        run.results.append(future.result())
        done = len(run.results)
        if done % 25 == 0 or done == len(work):
            print("  %d/%d mutants, %.0f s" % (done, len(work), time.monotonic() - run.began), flush=True)


if __name__ == "__main__":
    main()
