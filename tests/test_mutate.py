"""tools/mutate.py itself: the mutants it makes, where it writes them, and the equivalents list."""

import os
import re
import subprocess
import sys

import pytest

from tools import mutate

SAMPLE = '''"""Doc."""
LIMIT = 0x10  # a hex constant


def f(a, b):
    if a < b and b:
        return a + 1
    return True
'''


def test_generates_every_operator_at_every_site():
    got = {(m.line, m.operator, m.mutated) for m in mutate.generate(SAMPLE, "firmware/sample.py")}
    assert got == {
        (2, "delete", "pass"),
        (2, "number", "LIMIT = 0xf"),
        (2, "number", "LIMIT = 0x11"),
        (6, "negate", "if (not (a < b and b)):"),
        (6, "boolop", "if (a < b or b):"),
        (6, "cmp", "if (a <= b) and b:"),
        (7, "delete", "pass"),
        (7, "return", "return 0"),
        (7, "number", "return a + 2"),
        (7, "number", "return a + 0"),
        (8, "delete", "pass"),
        (8, "truefalse", "return False"),
    }


def test_ids_leave_out_comments_and_line_numbers():
    mutant = mutate.generate(SAMPLE, "firmware/sample.py")[0]
    assert mutant.original == "LIMIT = 0x10"
    moved = mutate.generate("\n\n" + SAMPLE.replace("# a hex constant", "# reworded"), "firmware/sample.py")[0]
    assert moved.key == mutant.key and moved.line == mutant.line + 2


def test_every_firmware_mutant_compiles_and_changes_the_code():
    for module in mutate.TESTS:
        source = (mutate.FIRMWARE / (module + ".py")).read_text()
        mutants = mutate.generate(source, "firmware/%s.py" % module)
        assert mutants
        for mutant in mutants:
            text = mutate.apply(source, mutant)
            assert text != source
            compile(text, mutant.describe(), "exec")


def test_mutant_goes_to_a_copy_never_to_the_original(tmp_path, monkeypatch):
    firmware = tmp_path / "firmware"
    firmware.mkdir()
    (firmware / "sample.py").write_text(SAMPLE)
    (firmware / "other.py").write_text("X = 1\n")
    monkeypatch.setattr(mutate, "FIRMWARE", firmware)
    seen = {}

    def fake_run(copy, tests, timeout, scratch):
        seen["dir"] = copy
        seen["sample"] = (copy / "sample.py").read_text()
        seen["other"] = (copy / "other.py").read_text()
        return "failed", "tests/test_x.py::test_y"

    monkeypatch.setattr(mutate, "run_tests", fake_run)
    mutant = next(m for m in mutate.generate(SAMPLE, "firmware/sample.py") if m.operator == "cmp")
    assert mutate.run_mutant(mutant, SAMPLE, ["test_x.py"], 10) == ("killed", "tests/test_x.py::test_y")
    assert seen["dir"] != firmware and not seen["dir"].exists()  # a temporary copy, removed afterwards
    assert "a <= b" in seen["sample"] and seen["other"] == "X = 1\n"
    assert (firmware / "sample.py").read_text() == SAMPLE


def test_equivalents_file_parses_and_names_known_operators():
    for key, line, reason in mutate.load_equivalents():
        assert key[0].startswith("firmware/") and key[1] in mutate.OPERATORS
        assert line > 0 and reason


def test_malformed_claim_or_unknown_operator_is_refused(tmp_path):
    claims = tmp_path / "eq.md"
    claims.write_text("- firmware/x.py:3 delete `a = 1`: no mutated text\n")
    with pytest.raises(ValueError, match="eq.md:1: not a claim line"):
        mutate.load_equivalents(claims)
    claims.write_text("- firmware/x.py:3 swap `a = 1` `a = 2`: reason\n")
    with pytest.raises(ValueError, match="unknown operator 'swap'"):
        mutate.load_equivalents(claims)


def test_claims_match_by_text_and_nearest_line_and_stale_ones_are_reported(tmp_path):
    source = "a = 0\nb = 1\na = 0\n"
    mutants = mutate.generate(source, "firmware/x.py")
    claims = tmp_path / "eq.md"
    claims.write_text("- firmware/x.py:4 number `a = 0` `a = 1`: the later one\n"
                      "- firmware/x.py:9 number `c = 0` `c = 1`: gone\n")
    claimed, stale = mutate.match_equivalents(mutants, mutate.load_equivalents(claims))
    assert [(m.line, m.mutated) for m in claimed] == [(3, "a = 1")]
    assert stale == [(("firmware/x.py", "number", "c = 0", "c = 1"), 9)]


def test_score_leaves_out_surviving_equivalents_and_counts_timeouts_as_killed():
    mutant = mutate.generate(SAMPLE, "firmware/sample.py")[0]
    results = [mutate.Result(mutant, status, "", reason) for status, reason in (
        ("killed", None), ("timeout", None), ("survived", None), ("survived", "overwritten"))]
    summary = mutate.summarise("sample", results)
    assert (summary["killed"], summary["timeout"], summary["survived"], summary["equivalent"]) == (1, 1, 1, 1)
    assert summary["score"] == pytest.approx(200 / 3)


def test_firmware_dir_override_reaches_both_runtimes(tmp_path):
    (tmp_path / "__init__.py").write_text("")
    # The package's folder, as "cupfw", comes first on MicroPython's path.
    probe = ("import os; from cupctl import fw, mpunix; import tests.conftest as c; import cupfw; "
             "first = lambda path: os.path.realpath(os.path.join(path.split(os.pathsep)[0], 'cupfw')); "
             "print(cupfw.__file__); print(first(mpunix.env()['MICROPYPATH'])); print(first(c.MP_PATH))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=mutate.ROOT,
                         env=dict(os.environ, CUPCTL_FIRMWARE_DIR=str(tmp_path))).stdout.splitlines()
    assert out == [str(tmp_path / "__init__.py"), os.path.realpath(tmp_path), os.path.realpath(tmp_path)]


def test_report_lists_survivors_as_claimable_lines_and_notes_an_interrupted_run(tmp_path, monkeypatch):
    monkeypatch.setattr(mutate, "REPORT_DIR", tmp_path)
    mutants = mutate.generate(SAMPLE, "firmware/sample.py")
    run = mutate.Run()
    run.results = [mutate.Result(mutants[1], "survived", "", None), mutate.Result(mutants[0], "killed", "t", None)]
    run.finish(["sample"], "INTERRUPTED after 2 of 12 mutants")
    text = (tmp_path / "report.txt").read_text()
    assert text.startswith("INTERRUPTED after 2 of 12 mutants\n")
    assert "\nfirmware/sample.py:2 number `LIMIT = 0x10` `LIMIT = 0x11`\n" in text
    assert re.search(r"sample +2 +1 +1 +0 +0 +0 +50\.0%", text)


def test_selection_adds_any_fast_test_file_that_imports_the_module(tmp_path, monkeypatch):
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_rules.py").write_text("import json\n")
    (tests / "test_new.py").write_text('"""New."""\nfrom cupfw.supervisor import Supervisor\n')
    (tests / "test_also.py").write_text("from cupfw import faults, supervisor\n")
    (tests / "test_vboard.py").write_text("from cupfw import supervisor\n")  # slow: stays out
    (tests / "test_other.py").write_text("from cupfw import supervisors\nimport supervisor\n")
    monkeypatch.setattr(mutate, "ROOT", tmp_path)
    assert mutate.select_tests("supervisor") == ["test_also.py", "test_new.py", "test_rules.py"]
