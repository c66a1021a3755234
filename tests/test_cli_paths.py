"""Every output path of every verb: unwritable, a folder, or a missing folder gets one line, before any work."""

import pytest

from cupctl import cli, trace
from tests.conftest import ROOT
from tests.test_cli import FakeSerial, telemetry

TRACE = str(ROOT / "tests" / "traces" / "program-static.csv")
INFO = "version=0.1.0 protocol=1 board=esp32-devkitc chip=esp32 loop_hz=100"


@pytest.fixture
def scenario_file(tmp_path):
    path = tmp_path / "short.toml"
    path.write_text('board = "esp32-devkitc"\nduration_s = 1\n\n[program]\nname = "static"\ntarget = 20\n'
                    'minutes = 1\n')
    return str(path)


@pytest.fixture
def device(mocker):
    """A board on a fake serial port: answers info, rate and status, sends a few rows, then the cable is pulled."""
    fake = FakeSerial([telemetry(i, state=0) for i in range(1, 6)], {"info": INFO, "rate": "rate=100",
                                                                      "status": "state=idle fault=none program=none"})
    opened = mocker.patch("serial.Serial", return_value=fake)
    return fake, opened


# verb -> argv with {path} for the output under test; ext: the file kind it expects
FILE_OUTPUTS = {
    "plot -o": (["plot", TRACE, "-o", "{path}"], ".png"),
    "export --mcap": (["export", TRACE, "--mcap", "{path}"], ".mcap"),
    "record -o": (["record", "-o", "{path}", "--port", "/dev/ttyFAKE"], ".csv"),
    "session --record": (["session", "start", "static", "target=30", "--yes", "--record", "{path}", "--port",
                          "/dev/ttyFAKE"], ".csv"),
    "sim --record": (["sim", "--scenario", "{scenario}", "--record", "{path}"], ".csv"),
    "sim --plot": (["sim", "--scenario", "{scenario}", "--record", "{tmp}/ok.csv", "--plot", "{path}"], ".png"),
}
DIR_OUTPUTS = {
    "sim --serve --flash": (["sim", "--serve", "--flash", "{path}"], "cupctl.sim.vboard.serve"),
    "sim --demo --out": (["sim", "--demo", "--out", "{path}"], "cupctl.sim.demo.run"),
}


def bad_file_paths(tmp_path, ext):
    return {
        "unwritable": "/proc/cupctl-test" + ext,
        "a folder": str(tmp_path),
        "missing, in an unwritable place": "/proc/cupctl-missing/out" + ext,
    }


def expand(argv, path, tmp_path, scenario):
    return [a.format(path=path, tmp=tmp_path, scenario=scenario) for a in argv]


def assert_one_line(code, err, verb, path):
    assert code == 1
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cupctl %s: error: " % verb), err
    assert path in lines[0]


@pytest.mark.parametrize("kind", ["unwritable", "a folder", "missing, in an unwritable place"])
@pytest.mark.parametrize("output", FILE_OUTPUTS)
def test_file_output_that_cannot_be_written_is_one_line_before_any_work(output, kind, tmp_path, scenario_file,
                                                                          device, capsys):
    argv, ext = FILE_OUTPUTS[output]
    path = bad_file_paths(tmp_path, ext)[kind]
    before = sorted(tmp_path.rglob("*"))
    code = cli.main(expand(argv, path, tmp_path, scenario_file))
    assert_one_line(code, capsys.readouterr().err, argv[0], path)
    fake, opened = device
    assert not any(w.lstrip().startswith(b"start") for w in fake.written)  # no session started
    if output == "record -o":
        opened.assert_not_called()  # refused before the port was opened
    assert sorted(tmp_path.rglob("*")) == before  # nothing written, not even the sim's own trace


@pytest.mark.parametrize("output", ["plot -o", "record -o", "sim --record", "sim --plot"])
def test_file_output_in_a_missing_folder_is_created(output, tmp_path, scenario_file, device, capsys):
    argv, ext = FILE_OUTPUTS[output]
    path = tmp_path / "new" / "deeper" / ("out" + ext)
    cli.main(expand(argv, str(path), tmp_path, scenario_file))
    if ext == ".png":
        assert path.read_bytes()[:4] == b"\x89PNG"
    else:
        assert len(trace.read(path).rows) > 0


@pytest.mark.parametrize("output", DIR_OUTPUTS)
def test_folder_output_that_cannot_be_written_is_one_line(output, tmp_path, mocker, capsys):
    argv, target = DIR_OUTPUTS[output]
    work = mocker.patch(target, return_value=0)
    a_file = tmp_path / "flash"
    a_file.write_text("not a folder")
    for path in ("/proc/cupctl-vbflash", str(a_file), "/proc/cupctl-missing/flash"):
        code = cli.main(expand(argv, path, tmp_path, ""))
        assert_one_line(code, capsys.readouterr().err, "sim", path)
    work.assert_not_called()
    missing = tmp_path / "new" / "flash"
    assert cli.main(expand(argv, str(missing), tmp_path, "")) == 0
    assert missing.is_dir() and work.call_count == 1


def test_an_unexpected_os_error_is_still_one_line(mocker, capsys):
    mocker.patch("cupctl.plot.plot", side_effect=OSError(28, "No space left on device", "/tmp/x.png"))
    code = cli.main(["plot", TRACE, "-o", "/tmp/cupctl-nospace.png"])
    err = capsys.readouterr().err
    assert code == 1 and err == "cupctl plot: error: /tmp/x.png: No space left on device\n"
