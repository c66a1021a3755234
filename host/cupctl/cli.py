"""``cupctl``: a thin table of verbs over the cupctl library.

Each verb is a ``do_<verb>(args)`` handler. Errors a user can act on are raised
as one of the library's error types and printed as one line, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from cupctl import __version__, checklist, fw  # noqa: F401  (fw: the firmware modules become importable)
from cupctl.outputs import check_file, check_folder

EPILOG = {
    "boards": """examples:
  cupctl boards                       list board files and USB serial ports
  cupctl boards esp32-s3-devkitc-1    validate one and show its wiring
  cupctl boards ./my-board.json       validate your own board file""",
    "flash": """examples:
  cupctl flash ESP32_GENERIC-v1.24.1.bin
  cupctl flash --port /dev/ttyUSB0 --chip esp32s3 --erase ESP32_GENERIC_S3-v1.24.1.bin""",
    "deploy": """examples:
  cupctl deploy --board esp32-devkitc
  cupctl deploy --port /dev/ttyACM0 --board adafruit-qtpy-esp32s3""",
    "session": """examples:
  cupctl session start static target=30 minutes=20
  cupctl session start massage site=neck target=15 minutes=8 --cup S --record neck.csv
  cupctl session start interval high=30 low=10 high_s=20 low_s=10 --yes --detach
  cupctl session start static target=25 --patient P-0042 --operator anna
  cupctl session status | stop | ack""",
    "monitor": """examples:
  cupctl monitor
  cupctl monitor --port /dev/ttyUSB0 --teleplot
  cupctl monitor --foxglove           live in Foxglove: open connection ws://127.0.0.1:8765
  cupctl monitor --mqtt mqtt://clinic@broker.local --device cup1   through the broker (docs/mqtt.md)
  cupctl monitor --patient P-0042     a session found running goes into the history under P-0042""",
    "record": """examples:
  cupctl record -o session.csv
  cupctl record -o long.csv --reconnect --duration 2400
  cupctl record -o cup1.csv --mqtt mqtt://clinic@broker.local --device cup1

replay: cupctl replay re-runs a recording from a moment the device is idle (or its boot).
  A recording started during a session cannot replay that session: it replays from the
  first idle row after it, and says so. To replay a whole session, start recording
  before it: cupctl session start ... --record FILE, or cupctl record, then start.""",
    "info": """examples:
  cupctl info                         firmware version, board, chip and limits of the connected board
  cupctl info --port u0 --json""",
    "doctor": """examples:
  cupctl doctor                       check this machine: serial permissions, ports, unix port, config
  cupctl doctor --port /dev/ttyUSB0   also check that the board answers and runs this host's version""",
    "repl": """examples:
  cupctl repl                         maintenance mode (cup vented, no watchdog), then mpremote's REPL
  cupctl repl --port a0""",
    "plot": """examples:
  cupctl plot session.csv -o session.png""",
    "replay": """examples:
  cupctl replay tests/traces/static.csv
  cupctl replay session.csv --runtime micropython""",
    "history": """examples:
  cupctl history                      every session, newest first
  cupctl history --patient P-0042 --since 2025-03-01 --outcome fault
  cupctl history show 12              one session: device, program, checklist, figures, events, a plot
  cupctl history show 12 --plot s12.png
  cupctl history export -o sessions.csv --device esp32-devkitc
  cupctl history export --format json --until 2025-03-31

The database: --db PATH, else $CUPCTL_DB, else db in the config file, else
$XDG_DATA_HOME/cupctl/history.sqlite (~/.local/share/cupctl/history.sqlite).""",
    "dashboard": """examples:
  cupctl dashboard                    the one board found, on http://127.0.0.1:8765/
  cupctl dashboard --port u0 --port u1 --listen 127.0.0.1:9000
  cupctl dashboard --listen 0.0.0.0:8765   other machines too: every request needs the access
                                      token (dashboard_token in the config file, else a new one,
                                      printed at start)""",
    "completion": """examples:
  cupctl completion bash > ~/.local/share/bash-completion/completions/cupctl
  cupctl completion zsh > ~/.zfunc/_cupctl    (with fpath+=(~/.zfunc) before compinit in ~/.zshrc)""",
    "bridge": """examples:
  CUPCTL_MQTT_PASSWORD=... cupctl bridge --mqtt mqtt://cup1@broker.local --port /dev/ttyUSB0
  cupctl bridge --mqtt mqtts://cup2@broker.local:8883 --tls-ca ca.crt --password-file cup2.pw --port u1
  cupctl bridge --mqtt mqtt://cup3@broker.local --allow-remote-start --rate 50

topics (docs/mqtt.md): cupctl/ID/telemetry, /event, /status (retained), /cmd (stop, ack), /result
  mosquitto_pub -t cupctl/cup1/cmd -m stop -u clinic -P ...""",
    "export": """examples:
  cupctl export session.csv --mcap session.mcap    open it in Foxglove: /telemetry, /event""",
    "sim": """examples:
  cupctl sim --scenario examples/scenarios/static.toml --record out/static.csv --plot out/static.png
  cupctl sim --scenario examples/scenarios/leak-burst.toml --record out/leak.csv --runtime micropython
  cupctl sim --serve                  start a virtual board; prints 'port: PATH' first
  cupctl sim --serve --bootloader esp32s3   an emulated ESP32-S3 in download mode, for cupctl flash
  cupctl sim --demo                   the 'make sim' demo session""",
}


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        _apply_defaults(args)
        return args.handler(args) or 0
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into head and the like
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return 0
    except _user_errors() as e:
        print("cupctl %s: error: %s" % (args.verb, e), file=sys.stderr)
        return 1
    except OSError as e:  # a file or device the checks above did not foresee (disk full, ...): still one line
        where = "%s: " % e.filename if e.filename else ""
        print("cupctl %s: error: %s%s" % (args.verb, where, e.strerror or e), file=sys.stderr)
        return 1


def _apply_defaults(args) -> None:
    """Fill --port, --baud, --db, deploy's --board and session's --cup from the environment or config file."""
    from cupctl.link import expand_port

    wanted = [key for key in ("port", "baud", "db") if getattr(args, key, "") is None]
    wanted += [key for verb, key in (("deploy", "board"), ("session", "cup"))
               if args.verb == verb and getattr(args, key) is None]
    if wanted:
        from cupctl import config

        values = config.defaults()
        for key in wanted:
            if key in values:
                setattr(args, key, values[key])
    if isinstance(getattr(args, "port", None), list):  # the dashboard takes several
        args.port = [expand_port(port) for port in args.port]
    elif getattr(args, "port", None):
        args.port = expand_port(args.port)


def _user_errors() -> tuple[type[BaseException], ...]:
    from cupctl.boards import BoardFileError
    from cupctl.config import ConfigError
    from cupctl.deploy import DeployError
    from cupctl.flashing import FlashError
    from cupctl.fleet import BrokerError
    from cupctl.link import LinkError
    from cupctl.mpunix import RuntimeUnavailable
    from cupctl.outputs import OutputError
    from cupctl.sim.scenario import ScenarioError
    from cupctl.trace import TraceError

    return (BoardFileError, BrokerError, ConfigError, DeployError, FlashError, LinkError, OutputError,
            RuntimeUnavailable, ScenarioError, TraceError, ValueError)  # HistoryError and DashboardError: ValueErrors


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cupctl", description="Flash, deploy, run, record and simulate cupctl vacuum-cupping controllers.")
    parser.add_argument("--version", action="version", version="cupctl " + __version__)
    verbs = parser.add_subparsers(dest="verb", metavar="COMMAND")

    def verb(name, help_text):
        sub = verbs.add_parser(name, help=help_text, description=help_text, epilog=EPILOG[name],
                               formatter_class=argparse.RawDescriptionHelpFormatter)
        sub.set_defaults(handler=globals()["do_" + name])
        return sub

    def port(sub):
        sub.add_argument("--port", "-p", help="serial port, or a shortcut: u0 /dev/ttyUSB0, a0 /dev/ttyACM0, "
                         "c3 COM3 (default: $CUPCTL_PORT, then the config file, then the one ESP32 found by "
                         "USB VID/PID)")

    def serial_port(sub):
        port(sub)
        sub.add_argument("--baud", type=int, help="baud rate (default: $CUPCTL_BAUD, then the config file, "
                         "then 115200)")

    def broker(sub, url_help="the broker, instead of a serial port", required=False):
        sub.add_argument("--mqtt", metavar="URL", required=required, help="mqtt://USER@HOST[:PORT] or "
                         "mqtts://...: " + url_help)
        sub.add_argument("--password-file", metavar="FILE", help="the broker password (default: "
                         "$CUPCTL_MQTT_PASSWORD)")
        sub.add_argument("--tls-ca", metavar="FILE", help="CA certificate(s) to check the broker against (turns "
                         "TLS on)")
        sub.add_argument("--tls-cert", metavar="FILE", help="client certificate, with --tls-key")
        sub.add_argument("--tls-key", metavar="FILE", help="the client certificate's private key")

    def device(sub, default):
        sub.add_argument("--device", metavar="ID", help="device id on the broker (default: %s)" % default)

    def as_json(sub, what):
        sub.add_argument("--json", action="store_true", help="print %s as JSON, for scripts" % what)

    def database(sub):
        sub.add_argument("--db", metavar="PATH", help="session history database (default: $CUPCTL_DB, then the "
                         "config file, then $XDG_DATA_HOME/cupctl/history.sqlite)")

    def patient(sub, what):
        sub.add_argument("--patient", metavar="REF", help="patient reference for %s in the history: an opaque id "
                         "or initials the clinic chooses, never a name" % what)

    sub = verb("boards", "List board files, or validate one and show its wiring.")
    sub.add_argument("board", nargs="?", help="board name from boards/ or a path to a board JSON file")
    as_json(sub, "the list (or the board file and its warnings)")

    sub = verb("flash", "Write a MicroPython image to the board with esptool (image checked first).")
    port(sub)
    sub.add_argument("--chip", choices=("esp32", "esp32s3", "esp32c3"), help="refuse unless the image and "
                     "board are this chip")
    sub.add_argument("--erase", action="store_true", help="erase the whole flash first (removes files)")
    sub.add_argument("image", help="MicroPython .bin image for the board")

    sub = verb("deploy", "Copy the firmware and board file to the board; only changed files are sent.")
    port(sub)
    sub.add_argument("--board", default=None, help="board name or JSON file (default: $CUPCTL_BOARD, then the "
                     "config file, then esp32-devkitc)")

    sub = verb("session", "Start, stop, query or acknowledge a therapy session on the board.")
    serial_port(sub)
    sub.add_argument("action", choices=("start", "stop", "status", "ack"))
    sub.add_argument("program", nargs="?", help="static, massage, interval or ramp (for start)")
    sub.add_argument("params", nargs="*", metavar="KEY=VALUE", help="program parameters, e.g. target=30")
    sub.add_argument("--cup", help="cup size from the board file (default: $CUPCTL_CUP, then the config "
                     "file, then the board's first cup)")
    sub.add_argument("--board", help="board file to check parameters against (default: ask the device)")
    sub.add_argument("--heartbeat", type=float, default=0, metavar="S",
                     help="device faults if this host is silent for S seconds (default: off)")
    sub.add_argument("--yes", "-y", action="store_true", help="skip the contraindication checklist")
    sub.add_argument("--detach", action="store_true", help="return once started instead of following")
    sub.add_argument("--record", metavar="TRACE.csv", help="also record the session to a trace")
    patient(sub, "this session")
    sub.add_argument("--operator", metavar="NAME", help="who confirms the checklist, for the history (default: "
                     "your login name)")
    database(sub)
    as_json(sub, "the answer of status, stop or ack")

    sub = verb("monitor", "Live view of vacuum, target, duty, valve, state and faults.")
    serial_port(sub)
    sub.add_argument("--teleplot", action="store_true", help="also send values to Teleplot on UDP 47269")
    sub.add_argument("--foxglove", nargs="?", const=8765, type=int, metavar="PORT", help="also serve the "
                     "records live to Foxglove on ws://127.0.0.1:PORT (default 8765; needs cupctl[foxglove])")
    sub.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    patient(sub, "a session found running")
    database(sub)
    as_json(sub, "one line per telemetry row and event (JSON Lines)")
    broker(sub)
    device(sub, "the only device on the broker")

    sub = verb("record", "Record telemetry to a trace CSV, durably.")
    serial_port(sub)
    sub.add_argument("-o", "--output", required=True, metavar="TRACE.csv")
    sub.add_argument("--duration", type=float, metavar="S", help="stop after S seconds (default: Ctrl-C)")
    sub.add_argument("--reconnect", action="store_true", help="if the cable drops, wait for the board and go on")
    sub.add_argument("--rate", type=int, metavar="HZ", help="telemetry rate (default: the loop rate, "
                     "one row per tick, as replay needs)")
    patient(sub, "the sessions recorded")
    database(sub)
    broker(sub)
    device(sub, "the only device on the broker")

    sub = verb("bridge", "Connect one board to an MQTT broker: publish its lines, take stop/ack commands.")
    serial_port(sub)
    broker(sub, "the broker; USER is the device's id unless --device", required=True)
    device(sub, "the user in --mqtt")
    sub.add_argument("--allow-remote-start", action="store_true", help="also pass `start` commands from the "
                     "broker (the device still checks them against its limits)")
    sub.add_argument("--rate", type=int, metavar="HZ", help="telemetry rate (default: the loop rate, so a "
                     "recording from the broker replays)")
    sub.add_argument("--buffer", type=int, default=30000, metavar="LINES", help="telemetry lines held while "
                     "the broker is away; beyond, the oldest are dropped and reported (default: 30000, 5 "
                     "minutes at 100 Hz)")

    sub = verb("export", "Convert a trace CSV for other tools: MCAP for Foxglove.")
    sub.add_argument("trace", help="trace CSV")
    sub.add_argument("--mcap", required=True, metavar="OUT.mcap", help="write an MCAP file: /telemetry and "
                     "/event channels with JSON schemas")

    sub = verb("info", "Show the connected board's firmware version, board file, chip and limits.")
    serial_port(sub)
    as_json(sub, "the board's answer")

    sub = verb("doctor", "Check this machine and, with a port, the board: permissions, ports, versions.")
    serial_port(sub)

    sub = verb("repl", "Reboot the board into maintenance mode (cup vented, no watchdog), then open "
                       "mpremote's REPL.")
    port(sub)

    sub = verb("plot", "Plot a trace to PNG: vacuum, target, duty, valve, state and faults.")
    sub.add_argument("trace", help="trace CSV")
    sub.add_argument("-o", "--output", metavar="PLOT.png", help="default: the trace name with .png")

    sub = verb("replay", "Feed a trace through the firmware core and diff the outputs tick by tick.")
    sub.add_argument("trace", nargs="+", help="trace CSV file(s)")
    sub.add_argument("--runtime", choices=("cpython", "micropython"), default="cpython")

    sub = verb("history", "List, show and export the sessions cupctl has run or followed.")
    sub.add_argument("action", nargs="?", choices=("list", "show", "export"), default="list")
    sub.add_argument("id", nargs="?", type=int, help="session number (for show)")
    sub.add_argument("--patient", metavar="REF", help="only this patient reference")
    sub.add_argument("--device", metavar="NAME", help="only this board name or port")
    sub.add_argument("--outcome", choices=history_outcomes(), help="only sessions that ended so")
    sub.add_argument("--since", metavar="YYYY-MM-DD", help="only sessions started on or after this day")
    sub.add_argument("--until", metavar="YYYY-MM-DD", help="only sessions started on or before this day")
    sub.add_argument("--plot", metavar="PLOT.png", help="show: also plot the session's trace to a PNG")
    sub.add_argument("--format", choices=("csv", "json"), help="export: the format (default: from -o's "
                     "suffix, else csv)")
    sub.add_argument("-o", "--output", metavar="FILE", help="export: write here (default: standard output)")
    database(sub)
    as_json(sub, "the list")

    sub = verb("dashboard", "Serve a live dashboard and the session history to a web browser.")
    sub.add_argument("--port", "-p", action="append", help="serial port of a board; repeat for several "
                     "(default: $CUPCTL_PORT, then the config file, then the one ESP32 found by USB VID/PID)")
    sub.add_argument("--baud", type=int, help="baud rate (default: $CUPCTL_BAUD, then the config file, "
                     "then 115200)")
    sub.add_argument("--listen", default="127.0.0.1:8765", metavar="HOST:PORT", help="address to serve on "
                     "(default: 127.0.0.1:8765, this machine only; any other needs the access token)")
    sub.add_argument("--board", help="board file to check the start form against, for a board whose file this "
                     "host does not ship (default: the one the device reports)")
    database(sub)

    sub = verb("sim", "Simulate: run a scenario in virtual time, serve a virtual board, or the demo.")
    sub.add_argument("--scenario", metavar="FILE.toml", help="scenario to run in virtual time (with --serve: "
                     "the virtual board's plant and faults)")
    sub.add_argument("--serve", action="store_true", help="serve a virtual board on a pseudo-terminal")
    sub.add_argument("--demo", action="store_true", help="demo session on a virtual board (make sim)")
    sub.add_argument("--record", metavar="OUT.csv", help="trace output (--scenario: required)")
    sub.add_argument("--plot", metavar="OUT.png", help="also plot the trace")
    sub.add_argument("--runtime", choices=("cpython", "micropython"), default="cpython")
    sub.add_argument("--board", default=None, help="virtual board's board file (--serve; default: the "
                     "scenario's board, else esp32-devkitc)")
    sub.add_argument("--flash", metavar="DIR", help="virtual board's flash folder (--serve); with --bootloader, "
                     "the folder that keeps the emulated flash as CHIP.bin")
    sub.add_argument("--bootloader", choices=("esp32", "esp32s3", "esp32c3"), help="with --serve: an emulated "
                     "ESP serial bootloader (ROM loader and esptool's flasher stub) for esptool and cupctl flash, "
                     "instead of the firmware (docs/esprom.md)")
    sub.add_argument("--link", choices=("unpaced", "uart115200", "usb"), default=None,
                     help="how the virtual board's port is paced (--serve): a 115200-baud UART bridge, native "
                          "USB (writes wait for a host that stops reading, then drop), or as fast as the pty "
                          "(default: $CUPCTL_VBOARD_LINK, else unpaced)")
    sub.add_argument("--out", default="out", metavar="DIR", help="demo output folder (default: out)")

    sub = verb("completion", "Print the shell completion script for cupctl (bash, zsh or tcsh).")
    sub.add_argument("shell", choices=("bash", "zsh", "tcsh"))
    return parser


def history_outcomes() -> tuple[str, ...]:
    from cupctl.history import OUTCOMES

    return OUTCOMES


def do_boards(args) -> int:
    from cupctl import boards

    if args.board:
        data, board = boards.load(args.board)
        if args.json:
            print(json.dumps({"path": str(boards.path_for(args.board)), "valid": True,
                              "warnings": list(board.warnings), "board": data}))
            return 0
        print(boards.wiring(board))
        for warning in board.warnings:
            print("warning: " + warning)
        print("valid: %s" % boards.path_for(args.board))
        return 0
    from cupctl.link import ports

    files = [(name, *boards.load(name)) for name in boards.names()]
    seen = ports()
    if args.json:
        print(json.dumps({"boards": [{"name": name, "chip": board.chip, "title": data.get("title", "")}
                                     for name, data, board in files],
                          "ports": [{"device": device, "kind": kind} for device, kind in seen]}))
        return 0
    print("board files:")
    for name, data, board in files:
        print("  %-24s %-8s %s" % (name, board.chip, data.get("title", "")))
    print("serial ports:" + ("" if seen else " none"))
    for device, kind in seen:
        print("  %-24s %s" % (device, kind or "(not a known ESP32 USB bridge)"))
    return 0


def do_flash(args) -> int:
    from cupctl import flashing
    from cupctl.link import find_port

    chip = flashing.image_chip(args.image)  # refuse a wrong file before touching any port
    if args.chip and args.chip != chip:
        raise flashing.FlashError("%s is built for %s, not %s: refusing to flash" % (args.image, chip, args.chip))
    reset = flashing.flash(args.image, args.port or find_port(), chip, args.erase)
    print("flashed %s; next: %scupctl deploy --board <name>" % (
        args.image, "" if reset else "press the board's RESET button (this port cannot reset it), then "))
    return 0


def do_deploy(args) -> int:
    from cupctl import boards, deploy
    from cupctl.link import find_port

    port = args.port or find_port()

    def progress(name, done, total):
        _bar("  " + name, done, total)

    stats = deploy.deploy(port, args.board or boards.DEFAULT, Path("build/deploy"), progress=progress)
    print("\ndeployed to %s: %d copied, %d unchanged, %d removed; firmware answers" % (
        port, stats["copied"], stats["unchanged"], stats["removed"]))
    return 0


def do_session(args) -> int:
    from cupctl import history, live

    if args.record:
        check_file(args.record, "trace")
    history.check_patient(args.patient)
    with _link(args) as link:
        if args.action != "start":
            if args.program or args.params:
                raise ValueError("'session %s' takes no program or parameters" % args.action)
            answer = link.command(args.action)
            if args.action == "status":
                fields = live.parse_status(answer)
                print(json.dumps(fields) if args.json else live.format_status(fields))
            else:
                print(json.dumps({"result": answer}) if args.json else answer)
            return 0
        if args.json:
            raise ValueError("--json is for session status, stop and ack; session start shows a live view")
        line = _start_line(args, link)
        answers = checklist.skipped("--yes") if args.yes else _confirm_checklist()
        if answers is None:
            print("not started")
            return 1
        log = _open_history(args, link, "session", trace=args.record)
        log.expect(checklist=json.dumps(answers), confirmed_by=args.operator or _login_name())
        try:
            end = _run_session(args, link, line, log)
        finally:
            _close_history(log)
        if end is None:
            return 0 if args.detach else 130
        fault = end.final.get("fault", 0)
        print("\nsession ended: %s" % ("fault %s (cupctl session ack to clear)" % _fault_name(fault)
                                       if fault else "completed, cup vented"))
        return 1 if fault else 0


def _run_session(args, link, line, log):
    """Start and follow the session; its end (None: detached, or stopped by Ctrl-C)."""
    from cupctl import live
    from cupctl.link import LinkError

    recorder = None
    if args.record:
        info = link.info()
        rate = "rate %s" % info.get("loop_hz", "100")
        recorder = live.Recorder(args.record, live.trace_metadata(link, info), lambda: link.write_line(rate))
        link.command(rate)
        live.follow(link, recorder.add, duration_s=0.3)  # idle rows first: replay starts from them
    view = live.View()
    end = live.SessionEnd()

    def on_record(record):
        if recorder is not None:
            recorder.add(record)
        log.add(record)

    try:
        print(link.command(line, on_record=on_record))
        if args.detach:
            return None

        def follow_record(record):
            view.show(record)
            on_record(record)

        live.follow(link, follow_record, until=end, heartbeat_s=args.heartbeat / 3 if args.heartbeat else None)
    except KeyboardInterrupt:
        link.command("stop", on_record=on_record)
        print("\nstopped by Ctrl-C; cup vented")
        return None
    except LinkError as e:
        log.link_lost(str(e))
        raise
    finally:
        if recorder is not None:
            recorder.close()
            print("\nrecorded %d rows to %s" % (recorder.count, args.record))
    return end


def _start_line(args, link) -> str:
    """Validate against the board's limits locally, before anything is sent."""
    from cupctl import boards, startline

    params = startline.parse_params(args.params)
    board_name = args.board or link.info().get("board", boards.DEFAULT)
    _, board = boards.load(board_name)
    return startline.start_line(args.program, params, board, args.cup, int(args.heartbeat * 1000))


def _confirm_checklist() -> dict | None:
    """The checklist's answers, or None if not confirmed."""
    print(checklist.text())
    if not sys.stdin.isatty():
        print("no terminal to confirm on: pass --yes once the checklist is done")
        return None
    if input("Confirm none of the absolute contraindications applies [y/N]: ").strip().lower() not in ("y", "yes"):
        return None
    return checklist.answers(list(checklist.ABSOLUTE), None)


def _login_name() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in the environment or the user database
        return "unknown"


def _open_history(args, link, source: str, trace: str | None = None):
    """The history log of the sessions this command runs or follows (docs/history.md)."""
    from cupctl import history, live
    from cupctl.history.db import HistoryDB
    from cupctl.history.recorder import SessionLog, device_of

    info = link.info()
    db = HistoryDB(args.db or history.default_path())
    return SessionLog(db, device_of(link.port, info), source, trace=trace,
                      trace_meta=live.trace_metadata(link, info), patient=args.patient)


def _no_history_through_a_broker(args) -> None:
    if args.patient:
        raise ValueError("--patient: sessions followed through an MQTT broker do not go into the history (yet); "
                         "follow the board on its port for that")


def _close_history(log) -> None:
    log.close()
    log.db.close()


def do_monitor(args) -> int:
    from cupctl import history, live
    from cupctl.link import LinkError

    history.check_patient(args.patient)
    if args.mqtt:
        from cupctl.fleet import verbs

        _no_history_through_a_broker(args)
        return verbs.monitor(args)
    from cupctl import foxglove_live

    with _link(args) as link:
        log = _open_history(args, link, "monitor")
        log.join(live.parse_status(link.command("status")))
        if args.json:
            show = _print_json
        else:
            print("monitoring %s (Ctrl-C to quit)" % link.port)
            show = live.View(teleplot=args.teleplot).show
        try:
            with foxglove_live.tee(show, args.foxglove) as shown:

                def on_record(record):
                    shown(record)
                    log.add(record)

                live.follow(link, on_record, duration_s=args.duration)
        except KeyboardInterrupt:
            if not args.json:
                print()
        except LinkError as e:
            log.link_lost(str(e))
            raise
        finally:
            _close_history(log)
    return 0


def _print_json(record) -> None:
    from cupctl import live

    line = live.as_json(record)
    if line is not None:
        print(line, flush=True)


def do_record(args) -> int:
    from cupctl import history, live
    from cupctl.history.recorder import device_of
    from cupctl.link import LinkError

    if args.mqtt:
        from cupctl.fleet import verbs

        _no_history_through_a_broker(args)
        return verbs.record(args)
    check_file(args.output, "trace")
    history.check_patient(args.patient)
    recorder = log = None
    end = time.monotonic() + args.duration if args.duration else None

    def on_record(record):
        recorder.add(record)
        log.add(record)

    try:
        while True:
            try:
                with _link(args) as link:
                    info = link.info()
                    rate = "rate %d" % (args.rate or int(info.get("loop_hz", 100)))
                    link.command(rate)
                    if recorder is None:
                        recorder = live.Recorder(args.output, live.trace_metadata(link, info))
                        print("recording %s to %s (Ctrl-C to stop)" % (link.port, args.output))
                    recorder.on_boot = lambda link=link, rate=rate: link.write_line(rate)
                    if log is None:  # one log for the whole recording: the trace's hash is taken at its end
                        log = _open_history(args, link, "record", trace=args.output)
                    log.device = device_of(link.port, info)
                    log.join(live.parse_status(link.command("status", on_record=on_record)))  # no row lost
                    left = None if end is None else max(0.01, end - time.monotonic())
                    live.follow(link, on_record, duration_s=left)
                    break
            except LinkError as e:
                if log is not None:
                    log.link_lost(str(e))
                if recorder is None or not args.reconnect:
                    if recorder is not None:
                        recorder.close()
                        raise LinkError("%s; %s holds all %d rows received" % (e, args.output, recorder.count))
                    raise
                recorder.writer.event("0,host,link lost: %s" % e)
                print("\nlink lost (%s); %d rows kept; waiting for the board..." % (e, recorder.count))
                _wait_for_port(args.port)
    except KeyboardInterrupt:
        pass
    finally:
        if recorder is not None:
            recorder.close()
        if log is not None:
            _close_history(log)
    print("\nrecorded %d rows to %s (%d sequence gaps)" % (recorder.count, args.output, recorder.gaps))
    return 0


def do_bridge(args) -> int:
    from cupctl.fleet import verbs

    return verbs.bridge(args)


def do_export(args) -> int:
    from cupctl import mcap_export, trace

    check_file(args.mcap, "MCAP file")
    data = trace.read(args.trace)
    channels = mcap_export.export(data, args.mcap)
    print("exported %d rows and %d events of %s to %s (%s)" % (
        len(data.rows), len(data.events), args.trace, args.mcap, ", ".join(channels)))
    return 0


def do_info(args) -> int:
    from cupfw.version import VERSION

    with _link(args) as link:
        info = link.info()
    if args.json:
        from cupctl import live

        print(json.dumps(live.with_numbers(info)))
        return 0
    print("firmware %s (protocol %s) on %s, board file %s" % (
        info.get("version", "?"), info.get("protocol", "?"), info.get("chip", "?"), info.get("board", "?")))
    print("loop %s Hz, targets up to %s kPa, sessions up to %d min" % (
        info.get("loop_hz", "?"), _kpa_of(info, "max_target_pa"), int(info.get("max_session_ms", 0)) // 60000))
    for cup in filter(None, info.get("cups", "").split(";")):
        name, diameter, limit = (cup.split(":") + ["", ""])[:3]
        print("cup %s: %s, hard limit %s kPa" % (name, diameter.replace("mm", " mm"), _kpa_of({"x": limit}, "x")))
    if info.get("version") != VERSION:
        print("this host ships firmware %s: cupctl deploy installs it" % VERSION)
    return 0


def _kpa_of(info: dict[str, str], key: str) -> str:
    from cupctl import live

    value = info.get(key, "")
    return live.kpa(int(value)) if value.lstrip("-").isdigit() else "?"


def do_doctor(args) -> int:
    from cupctl import doctor

    failed = 0
    for status, text in doctor.checks(args.port, args.baud):
        print("%-5s %s" % (status, text))
        failed += status == doctor.FAIL
    return 1 if failed else 0


def do_repl(args) -> int:
    import subprocess

    from cupctl import deploy
    from cupctl.link import find_port

    port = args.port or find_port()
    deploy.enter_maintenance(port, print)
    print("maintenance mode on %s: cup vented, no control loop, no watchdog. Ctrl-] leaves the REPL; "
          "then reset the board (or cupctl deploy) to run the firmware again" % port, flush=True)
    return subprocess.call([sys.executable, "-m", "mpremote", "connect", port, "repl"])


def _wait_for_port(port: str | None) -> None:
    from cupctl.link import LinkError, find_port

    while True:
        time.sleep(0.5)
        try:
            if port is None:
                find_port()
            elif not Path(port).exists():
                continue
            return
        except LinkError:
            continue


def do_history(args) -> int:
    from cupctl import history
    from cupctl.history import report
    from cupctl.history.db import HistoryDB

    if (args.action == "show") != (args.id is not None):
        raise ValueError("history show takes a session number: cupctl history show ID" if args.action == "show"
                         else "a session number is for history show ID")
    shown = {"list": ("--json",), "show": ("--plot",), "export": ("--format", "--output")}[args.action]
    for option in ("--plot", "--format", "--output", "--json"):
        if getattr(args, option[2:]) not in (None, False) and option not in shown:
            raise ValueError("%s is not for history %s" % (option, args.action))
    if args.output:
        check_file(args.output, "export")
    if args.plot:
        check_file(args.plot, "plot")
    path = Path(args.db or history.default_path()).expanduser()
    if not path.exists():
        raise history.HistoryError("no history database at %s yet: it is made by the first session cupctl runs "
                                   "or follows (or pass --db PATH)" % path)
    with HistoryDB(path) as db:
        db.mark_interrupted()
        if args.action == "show":
            print(report.show_text(db, args.id))
            if args.plot:
                _plot_session(db, args.id, args.plot)
            return 0
        rows = db.sessions(patient=args.patient, device=args.device, outcome=args.outcome,
                           since=report.day_bound(args.since) if args.since else None,
                           until=report.day_bound(args.until, end=True) if args.until else None)
        if args.action == "export":
            fmt = args.format or ("json" if args.output and args.output.endswith(".json") else "csv")
            text = report.export(db, rows, fmt)
            if args.output:
                Path(args.output).write_text(text)
                print("exported %d sessions to %s" % (len(rows), args.output), file=sys.stderr)
            else:
                sys.stdout.write(text)
            return 0
        print(json.dumps(rows) if args.json else report.list_text(rows))
    return 0


def _plot_session(db, session_id: int, out: str) -> None:
    from cupctl import plot, trace
    from cupctl.history import HistoryError

    row = db.session(session_id)
    if not row["trace_path"] or not Path(row["trace_path"]).exists():
        raise HistoryError("session %d has no trace file to plot (%s)" % (session_id, row["trace_path"] or "none"))
    print("plotted %s" % plot.plot(trace.read(row["trace_path"]), out, row["hard_limit_pa"]))


def do_dashboard(args) -> int:
    from cupctl import config
    from cupctl.dashboard import server
    from cupctl.link import BAUD, find_port

    ports = [args.port] if isinstance(args.port, str) else args.port or [find_port()]  # str: from the config
    token = config.defaults().get("dashboard_token") or None
    return server.serve(ports, args.baud or BAUD, args.listen, args.db, token, args.board)


def do_plot(args) -> int:
    from cupctl import plot, replay, trace

    data = trace.read(args.trace)
    out = args.output or str(Path(args.trace).with_suffix(".png"))
    check_file(out, "plot")
    try:
        limit = min(c.hard_limit_pa for c in replay.board_of(data).cups)
    except trace.TraceError:
        limit = None
    print("plotted %s" % plot.plot(data, out, limit))
    return 0


def do_replay(args) -> int:
    from cupctl import replay, trace

    failed = 0
    for path in args.trace:
        data = trace.read(path)
        try:
            report = replay.replay(data, args.runtime)
        except trace.TraceError as e:
            raise trace.TraceError("%s: %s" % (path, e))
        skipped = " (from line %d: the recording began mid-session)" % data.line_numbers[report.first_row] \
            if report.first_row else ""
        if report.ok:
            print("%s: %d ticks replayed on %s%s, bit-exact, safety invariants hold" % (
                path, report.ticks, args.runtime, skipped))
            continue
        failed += 1
        d, gap = report.divergence, report.gap
        if d is not None:
            print("%s:%d: DIVERGES at t=%d ms: %s recorded %d, replayed %d" % (
                path, d.line, d.t_ms, d.column, d.recorded, d.replayed))
        elif gap is not None:
            print("%s:%d: GAP in %s at t=%d ms: %d follows %d (rows lost or deleted); the %d ticks before it "
                  "replay bit-exact%s" % (path, gap.line, gap.column, gap.t_ms, gap.after, gap.before, report.ticks,
                                          skipped))
        for violation in report.violations:
            print("%s: SAFETY %s" % (path, violation))
    return 1 if failed else 0


def do_completion(args) -> int:
    import shtab

    print(shtab.complete(_parser(), shell=args.shell))
    return 0


def do_sim(args) -> int:
    if args.bootloader and not args.serve:
        raise ValueError("--bootloader goes with --serve")
    if args.serve + args.demo + (args.scenario is not None and not args.serve) != 1:
        raise ValueError("choose one of --scenario FILE, --serve [--scenario FILE] or --demo")
    if args.serve:
        if args.flash:
            check_folder(args.flash, "flash folder")
        if args.bootloader:
            if args.scenario or args.board or args.link:
                raise ValueError("--bootloader serves the chip's bootloader alone: no --scenario, --board or --link")
            from cupctl.sim import romport

            return romport.serve(args.bootloader, args.flash)
        from cupctl.sim import vboard

        return vboard.serve(args.board, args.flash, args.scenario, link=args.link)
    if args.demo:
        from cupctl.sim import demo

        check_folder(args.out, "output folder")
        return demo.run(Path(args.out))
    from cupctl.sim import scenario, virtual_time

    if not args.record:
        raise ValueError("--scenario needs --record OUT.csv")
    check_file(args.record, "trace")
    if args.plot:
        check_file(args.plot, "plot")
    loaded = scenario.load(args.scenario)
    started = time.monotonic()
    rows = virtual_time.run(loaded, args.record, args.runtime,
                            progress=lambda t, total: _bar("simulating", t, total))
    print("\n%s: %d ticks (%.0f s virtual) in %.1f s on %s -> %s" % (
        args.scenario, rows, loaded.spec["duration_ms"] / 1000, time.monotonic() - started, args.runtime,
        args.record))
    if args.plot:
        from cupctl import plot, trace

        print("plotted %s" % plot.plot(trace.read(args.record), args.plot,
                                       loaded.board.cup(_cup_of(loaded)).hard_limit_pa))
    return 0


def _link(args):
    from cupctl.link import BAUD, Link

    return Link(args.port, args.baud or BAUD)


def _cup_of(loaded) -> str:
    line = loaded.spec.get("program", "")
    for word in line.split():
        if word.startswith("cup="):
            return word[4:]
    return loaded.board.cups[0].name


def _fault_name(code: int) -> str:
    from cupfw import faults

    return faults.NAMES.get(code, str(code))


def _bar(label: str, done: int, total: int) -> None:
    if not sys.stderr.isatty():
        return
    width = 30
    filled = width * done // max(total, 1)
    sys.stderr.write("\r%s [%s%s] %3d%%" % (label, "#" * filled, "." * (width - filled), 100 * done // max(total, 1)))
    sys.stderr.flush()


if __name__ == "__main__":
    sys.exit(main())
