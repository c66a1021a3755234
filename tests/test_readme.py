"""The README's CLI reference and program limits say what the code does."""

import argparse
import json
import re

from cupctl import cli
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()
CLI_REFERENCE = README[README.index("## CLI reference"):README.index("### Programs")]


def subcommands():
    parser = cli._parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


def test_every_verb_and_option_is_in_the_cli_reference():
    missing = []
    for verb, sub in subcommands().items():
        rows = [line for line in CLI_REFERENCE.splitlines() if line.startswith("| `cupctl %s" % verb)]
        if not rows:
            missing.append(verb)
            continue
        for action in sub._actions:
            names = action.option_strings
            if not names or {"--help", "--port", "--baud"}.intersection(names):
                continue  # --port and --baud are described once, above the table
            if not any("%s " % name in row or "%s]" % name in row for name in names for row in rows):
                missing.append("%s %s" % (verb, names[-1]))
    assert missing == []


def test_the_program_limits_match_the_shipped_boards():
    caps = {json.loads(path.read_text())["limits"]["max_target_kpa"] for path in (ROOT / "boards").glob("*.json")}
    assert len(caps) == 1, "the README says every shipped board has the same maximum target"
    cap = caps.pop()
    assert "`max_target_kpa` (**%d kPa on every shipped board**)" % cap in README
    programs = README[README.index("### Programs"):README.index("## Simulation")]
    ranges = re.findall(r"`(?:target|high)` \d+-(\d+) kPa", programs)
    assert ranges and all(int(top) <= cap for top in ranges), "a target range above what the boards allow"


def test_recovery_warns_that_mpremote_on_a_running_board_ends_in_a_watchdog_reset():
    recovery = " ".join(README[README.index("### Recovery"):README.index("## CLI reference")].split())
    assert "Using `mpremote` on a board whose firmware is running" in recovery
    assert "latched `watchdog_reset` fault" in recovery and "`cupctl session ack`" in recovery
