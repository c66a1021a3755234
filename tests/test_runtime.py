"""Boot-time composition (runtime.main) with a fake hardware layer: what runs before the control loop."""

import io
import json
import types

import pytest

from cupfw import runtime
from tests.conftest import ROOT


def fake_hw(mocker, board_file, chip):
    return types.SimpleNamespace(
        BOARD_FILE="board.json", read_board_file=lambda: json.loads(board_file.read_text()),
        chip=lambda: chip, build=mocker.MagicMock(return_value=(None,) * 5),
        maintenance_requested=lambda button: True)


@pytest.mark.parametrize("board,chip", [("esp32-s3-devkitc-1", "esp32"), ("esp32-devkitc", "esp32c3")])
def test_a_board_file_for_another_chip_never_builds_the_pins(mocker, board, chip):
    hw = fake_hw(mocker, ROOT / "boards" / (board + ".json"), chip)
    out = io.BytesIO()
    runtime.main(hw, io.BytesIO(), out)
    text = out.getvalue().decode()
    assert ",board_config," in text and "this chip is %s" % chip in text and "cup vented, pump disabled" in text
    hw.build.assert_not_called()


@pytest.mark.parametrize("chip", ["esp32", None])
def test_the_right_chip_or_a_virtual_board_goes_on(mocker, chip):
    hw = fake_hw(mocker, ROOT / "boards" / "esp32-devkitc.json", chip)
    out = io.BytesIO()
    runtime.main(hw, io.BytesIO(), out)
    assert "board_config" not in out.getvalue().decode()
    hw.build.assert_called_once()
