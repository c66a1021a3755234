"""Defaults a maker sets once: the port, baud rate, board and cup.

Each comes from the command line if given there, else from the environment (``CUPCTL_PORT``,
``CUPCTL_BAUD``, ``CUPCTL_BOARD``, ``CUPCTL_CUP``), else from the config file
``$XDG_CONFIG_HOME/cupctl/config.toml`` (``~/.config/cupctl/config.toml`` without XDG_CONFIG_HOME)::

    port = "/dev/ttyUSB0"      # or a shortcut: u0 = /dev/ttyUSB0, a0 = /dev/ttyACM0, c3 = COM3
    baud = 115200
    board = "esp32-devkitc"    # for cupctl deploy
    cup = "M"                  # for cupctl session start
    db = "/srv/clinic/history.sqlite"   # the session history (default: the user's data folder)
    dashboard_token = "..."    # cupctl dashboard: the access token (needed to listen off loopback)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

KEYS: dict[str, type] = {"port": str, "baud": int, "board": str, "cup": str, "db": str, "dashboard_token": str}


class ConfigError(ValueError):
    """A config file or environment value that cannot be used; names the file or variable."""


def path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "cupctl" / "config.toml"


def env_name(key: str) -> str:
    return "CUPCTL_" + key.upper()


def from_file(file: Path | None = None) -> dict[str, str | int]:
    """The config file's values, checked; {} if there is no file."""
    file = file or path()
    try:
        data = tomllib.loads(file.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError("%s: cannot read: %s" % (file, getattr(e, "strerror", None) or e))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError("%s: not valid TOML: %s" % (file, e))
    for key, value in data.items():
        if key not in KEYS:
            raise ConfigError("%s: unknown key %r (have: %s)" % (file, key, ", ".join(KEYS)))
        if type(value) is not KEYS[key]:
            raise ConfigError("%s: %s must be %s, not %r" % (
                file, key, "a whole number" if KEYS[key] is int else "a string", value))
    return data


def from_env() -> dict[str, str | int]:
    values: dict[str, str | int] = {}
    for key, kind in KEYS.items():
        text = os.environ.get(env_name(key), "").strip()
        if not text:
            continue
        if kind is int and not text.isdigit():
            raise ConfigError("%s=%r: must be a whole number" % (env_name(key), text))
        values[key] = int(text) if kind is int else text
    return values


def defaults() -> dict[str, str | int]:
    """File values, overridden by the environment's."""
    return {**from_file(), **from_env()}
