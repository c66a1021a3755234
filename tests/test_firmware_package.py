"""The firmware is the package ``cupfw``: on the host it shadows nothing, on MicroPython it imports as on a board."""

import subprocess
import sys
import textwrap

from cupctl import fw
from cupfw import mprls
from tests.conftest import ROOT


def _python(code, tmp_path):
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


def test_firmware_module_names_do_not_shadow_the_hosts_packages(tmp_path):
    # An installed package named like a firmware module (protocol, version, files, runtime...) stays
    # what `import protocol` finds, however much of cupctl ran first.
    site = tmp_path / "site"
    site.mkdir()
    for name in ("protocol", "version", "files", "runtime", "controller"):
        (site / (name + ".py")).write_text("ORIGIN = 'installed'\n")
    out = _python("""
        import sys
        sys.path.insert(0, "site")
        from cupctl import boards, telemetry, replay, deploy, fw
        boards.load("esp32-devkitc")
        import protocol, version, files, runtime, controller
        print(*[m.ORIGIN for m in (protocol, version, files, runtime, controller)])
        print(str(fw.FIRMWARE_DIR) in sys.path,
              sys.modules["cupfw.protocol"].__file__.startswith(str(fw.FIRMWARE_DIR)))
    """, tmp_path)
    assert out == ["installed"] * 5 + ["False", "True"]


def test_the_sensor_driver_works_as_a_module_on_its_own(tmp_path):
    # firmware/mprls.py imports nothing else of the firmware: copied alone next to a script, it runs.
    (tmp_path / "mprls.py").write_text((ROOT / "firmware" / "mprls.py").read_text())
    out = _python("""
        import sys, types
        sys.modules["micropython"] = types.SimpleNamespace(const=lambda v: v)
        import mprls

        class Bus:
            def writeto(self, address, data): pass
            def readfrom_into(self, address, buf): buf[:] = bytes([0x40, 0x80, 0x00, 0x00])

        sensor = mprls.MPRLS(Bus())
        print(sensor.counts_to_pa(0x800000), sensor.collect())
    """, tmp_path)
    assert out == [str(mprls.MPRLS(None).counts_to_pa(0x800000)), str(0x800000)]


def test_every_firmware_module_imports_its_siblings_relatively():
    # A top-level `import faults` would work on a board with the package's folder on sys.path only.
    stems = {path.stem for path in fw.FIRMWARE_DIR.glob("*.py")}
    for path in fw.FIRMWARE_DIR.glob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            words = line.split()
            if len(words) >= 2 and words[0] in ("import", "from") and words[1].split(".")[0] in stems:
                raise AssertionError("%s:%d imports a sibling by its top-level name: %s" % (path.name, number, line))


def test_boot_and_main_reach_the_package_by_its_name():
    for name in fw.ROOT_SCRIPTS:
        assert "from cupfw import" in (fw.FIRMWARE_DIR / name).read_text()
    layout = fw.board_layout()
    assert set(fw.ROOT_SCRIPTS) <= set(layout)
    assert all(name in fw.ROOT_SCRIPTS or name.startswith("lib/cupfw/") for name in layout)
