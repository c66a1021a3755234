"""Boot-time composition and the paced loop: tick, report, read commands, sleep.

Runs on the board and on the unix port (the virtual board); ``hw`` is passed
in so this module never touches ``machine`` itself.
"""

import gc
import select
import sys
import time

from . import boardcfg, faults, protocol
from .controller import Controller
from .outbox import Outbox
from .service import Service
from .version import VERSION

_MAX_INPUT_PER_TICK = 64  # bytes; bounds the time spent on commands per tick
_OUTBOX_BYTES = 4096  # about 1.3 s of telemetry at 50 Hz: what a host may fall behind before lines drop
_OUTBOX_FLUSH_MS = 200  # on the way out: what the writer may still send

_controller = None
_outbox = None


def main(hw, inp=None, out=None):
    global _controller, _outbox
    out = out or sys.stdout.buffer
    inp = inp or sys.stdin.buffer
    try:
        board = boardcfg.load(hw.read_board_file())
    except (OSError, ValueError) as e:  # the pump never runs on a board file we cannot trust
        _event(out, faults.NAMES[faults.BOARD_CONFIG], "%s: %s; cup vented, pump disabled" % (
            hw.BOARD_FILE, e))
        return
    running_chip = hw.chip()
    if running_chip is not None and running_chip != board.chip:  # its pins may be this chip's flash pins
        _event(out, faults.NAMES[faults.BOARD_CONFIG], "%s: written for %s, but this chip is %s; cup vented, pump "
               "disabled" % (hw.BOARD_FILE, board.chip, running_chip))
        return
    sensor, pump, valve, led, button = hw.build(board)
    if hw.maintenance_requested(button):
        _event(out, "maintenance", "no control loop, no watchdog; the REPL is free")
        return
    ctl = Controller(board, sensor, pump, valve, led, button, hw.watchdog(board.watchdog_ms),
                     hw.deadman(board, pump, valve), hw.boot_memory())
    _controller = ctl
    outbox = _outbox = Outbox(out, _OUTBOX_BYTES)  # the loop never waits for the host
    service = Service(ctl, outbox, VERSION, _mem_free_after_collect, lambda: outbox.dropped)
    outbox.start()
    service.announce_boot()
    ctl.latch_boot_faults(hw.reset_was_watchdog())
    run(ctl, service, inp)
    ctl.stop()
    outbox.stop(_OUTBOX_FLUSH_MS)
    hw.request_maintenance()


def run(ctl, service, inp):
    """Tick at the board's rate until maintenance is requested."""
    poller = select.poll()
    poller.register(inp, select.POLLIN)
    byte = bytearray(1)
    period = ctl.period_ms
    deadline = time.ticks_ms()
    while not service.maintenance_requested:
        ctl.tick(time.ticks_ms())
        service.after_tick()
        for _ in range(_MAX_INPUT_PER_TICK):
            if not _readable(poller):
                break
            if not inp.readinto(byte):  # end of input: stop listening, keep controlling
                poller.unregister(inp)
                break
            service.feed(byte[0])
        deadline = time.ticks_add(deadline, period)
        wait = time.ticks_diff(deadline, time.ticks_ms())
        if wait > 0:
            time.sleep_ms(wait)
        else:
            service.missed += 1
            deadline = time.ticks_ms()


def _mem_free_after_collect():
    gc.collect()  # what is really held, not what awaits collection
    return gc.mem_free()


def _readable(poller):
    for _ in poller.ipoll(0):
        return True
    return False


def vent():
    """After the loop ends for any reason: pump off and cup vented through the live controller,
    then the writer thread ends, so that nothing else writes to the port."""
    if _controller is not None:
        try:
            _controller.supervisor.vent()
        except Exception:  # the pins are driven safe from the board file next, whatever happens here
            pass
    if _outbox is not None:
        _outbox.stop(_OUTBOX_FLUSH_MS)


def report_exit(error):
    """Say why the loop ended (the cup is already vented)."""
    reason = "stopped by Ctrl-C" if isinstance(error, KeyboardInterrupt) else "crashed: %r" % (error,)
    _event(sys.stdout.buffer, "exit", reason + "; cup vented")
    if not isinstance(error, KeyboardInterrupt):
        sys.print_exception(error)


def _event(out, kind, detail):
    out.write(protocol.frame(protocol.EVENT, "0,%s,%s" % (kind, detail)).encode())
