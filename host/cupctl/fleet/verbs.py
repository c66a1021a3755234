"""The CLI's MQTT side: ``cupctl bridge``, and ``monitor``/``record`` with ``--mqtt`` instead of a port."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable

from cupctl import foxglove_live, live
from cupctl.fleet import BrokerError
from cupctl.fleet.broker import Broker
from cupctl.fleet.feed import BrokerFeed, devices
from cupctl.link import BAUD
from cupctl.outputs import check_file
from cupctl.telemetry import Record


def broker_of(args) -> Broker:
    return Broker.from_url(args.mqtt, args.password_file, args.tls_ca, args.tls_cert, args.tls_key)


def bridge(args) -> int:
    from cupctl.fleet.bridge import Bridge

    broker = broker_of(args)
    device = args.device or broker.username
    if not device:
        raise ValueError("which device? --device ID, or its broker user in --mqtt mqtt://ID@HOST (the ACL in "
                         "docs/mqtt.md makes them the same)")
    if args.buffer < 1:
        raise ValueError("--buffer must be at least 1 line")
    job = Bridge(broker, device, args.port, args.baud or BAUD, rate=args.rate, allow_start=args.allow_remote_start,
                 buffer_lines=args.buffer, log=lambda text: print(text, flush=True))
    signal.signal(signal.SIGTERM, _interrupt)  # a service manager's stop: retained status offline, as Ctrl-C
    try:
        job.run()
    except KeyboardInterrupt:
        pass  # run() has closed: status offline, held lines handed over
    return 0


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def monitor(args) -> int:
    broker = broker_of(args)
    device = _device(args, broker)
    show: Callable[[Record], None]
    if args.json:
        show = _print_json
    else:
        view = live.View(teleplot=args.teleplot)
        show = view.show
    with BrokerFeed(broker, device, on_status=lambda s: _say_status(s, args.json)) as feed:
        if not args.json:
            print("monitoring %s through %s (Ctrl-C to quit)" % (device, broker.url), flush=True)
        try:
            with foxglove_live.tee(show, args.foxglove) as show:
                follow(feed, show, args.duration)
        except KeyboardInterrupt:
            if not args.json:
                print()
    return 0


def record(args) -> int:
    if args.rate or args.reconnect:
        raise ValueError("with --mqtt the bridge sets the rate (cupctl bridge --rate) and the broker reconnects: "
                         "no --rate or --reconnect")
    check_file(args.output, "trace")
    broker = broker_of(args)
    device = _device(args, broker)
    noted = {"state": "online"}
    recorder: live.Recorder | None = None

    def on_status(status: dict) -> None:
        state = status.get("state", "?")
        if state != noted["state"] and recorder is not None:
            recorder.writer.event("0,host,bridge %s: %s" % (state, status.get("error") or status.get("reason", "")))
            print("\n%s: %s" % (device, _status_text(status)), flush=True)
        noted["state"] = state

    with BrokerFeed(broker, device, durable=True, on_status=on_status) as feed:
        status = feed.wait_status()
        if status.get("state") != "online":
            print("note: %s: %s; the recording goes on when lines come" % (device, _status_text(status)))
        info = {key: str(value) for key, value in (status.get("info") or {}).items()}
        loop_hz, rate = info.get("loop_hz"), status.get("rate_hz")
        if loop_hz and rate and int(rate) < int(loop_hz):
            print("note: the bridge publishes at %s Hz, the loop runs at %s Hz: replay needs one row per tick "
                  "(run the bridge without --rate)" % (rate, loop_hz))
        recorder = live.Recorder(args.output, live.trace_metadata(feed, info))
        print("recording %s through %s to %s (Ctrl-C to stop)" % (device, broker.url, args.output), flush=True)
        try:
            follow(feed, recorder.add, args.duration)
        except KeyboardInterrupt:
            pass
        finally:
            recorder.close()
    print("\nrecorded %d rows to %s (%d sequence gaps)" % (recorder.count, args.output, recorder.gaps))
    return 0


def follow(feed: BrokerFeed, on_record: Callable[[Record], None], duration_s: float | None = None) -> None:
    """Records to ``on_record`` until the duration or Ctrl-C; silence is a bridge or broker away, not an end."""
    end = time.monotonic() + duration_s if duration_s else None
    while end is None or time.monotonic() < end:
        for record in feed.records(timeout=0.2):
            on_record(record)
            if end is not None and time.monotonic() >= end:
                return


def _device(args, broker: Broker) -> str:
    if args.device:
        return args.device
    seen = devices(broker)
    if len(seen) == 1:
        return next(iter(seen))
    if not seen:
        raise BrokerError("no device has a status on %s yet: start `cupctl bridge` for one, or pass --device ID"
                          % broker.url)
    raise ValueError("several devices on %s: choose one with --device (%s)" % (broker.url, ", ".join(
        "%s %s" % (name, status.get("state", "?")) for name, status in sorted(seen.items()))))


def _status_text(status: dict) -> str:
    why = status.get("error") or status.get("reason")
    return "bridge %s%s" % (status.get("state", "?"), " (%s)" % why if why else "")


def _say_status(status: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"status": status}), flush=True)
    else:
        print("\n%s: %s" % (status.get("device", "?"), _status_text(status)), flush=True)


def _print_json(record: Record) -> None:
    line = live.as_json(record)
    if line is not None:
        print(line, flush=True)
