"""``channel-agents viz [CONFIG] [--host 127.0.0.1] [--port 8765]``: serve the browser app.

Wire it into the command line with :func:`add_parser`::

    from channel_agents.viz.command import add_parser as add_viz_parser
    add_viz_parser(sub)          # sub = parser.add_subparsers(...)

Importing this module is cheap (standard library only; the rest is imported
when the command runs). The handler (``args.handler``) returns an exit code
like the other commands; a bad CONFIG raises
:class:`~channel_agents.config.ConfigError` (exit 2 in ``cli.main``). The app runs as ``python -m solara run channel_agents.viz.app``
in a child process; CONFIG and the classroom settings reach it through
environment variables.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from channel_agents.viz.browser import solara_command  # standard library only

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be between 1 and 65535, got {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``viz`` command to ``subparsers`` (from ``add_subparsers``); returns its parser."""
    p = subparsers.add_parser(
        "viz",
        help="open the browser visualization and classroom play",
        description=(
            "Serve the browser app: the channel drawn in tiers, charts, siloed and "
            "cooperative side by side, negotiations, and classroom play (/classroom for the "
            "instructor, /play for students). Binds to 127.0.0.1 unless --host says otherwise."
        ),
    )
    p.add_argument(
        "config", nargs="?", metavar="CONFIG", help="scenario YAML file to open first (optional)"
    )
    p.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help="address to listen on (default 127.0.0.1; 0.0.0.0 lets a classroom network in)",
    )
    p.add_argument("--port", type=_port, default=DEFAULT_PORT, help="port (default 8765)")
    p.add_argument(
        "--games",
        metavar="DIR",
        default="games",
        help="folder where classroom games are saved (default ./games)",
    )
    p.add_argument(
        "--seat-timeout",
        type=_seconds,
        default=60.0,
        metavar="SECONDS",
        help="seconds a student has to order before a robot orders for the seat (default 60)",
    )
    p.add_argument(
        "--instructor-key",
        metavar="KEY",
        help="the key the classroom page asks for (default: $CHANNEL_AGENTS_INSTRUCTOR_KEY, "
        "else one generated and kept in the games folder)",
    )
    p.set_defaults(handler=cmd_viz)
    return p


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _port_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host.strip("[]"), port))
        except OSError:
            return False
    return True


def _fail(message: str) -> int:
    print(f"channel-agents viz: error: {message}", file=sys.stderr)
    return 2


def cmd_viz(args: argparse.Namespace) -> int:
    """Check the arguments, then run the Solara app until interrupted."""
    from channel_agents.config import load_config
    from channel_agents.viz.classroom import GAMES_DIR_ENV, INSTRUCTOR_KEY_ENV, SEAT_TIMEOUT_ENV
    from channel_agents.viz.scenarios import CONFIG_ENV

    env = dict(os.environ)
    if args.config:
        load_config(args.config)  # a bad scenario stops here (ConfigError: exit 2)
        env[CONFIG_ENV] = str(Path(args.config).resolve())
    try:
        import solara  # noqa: F401
    except ImportError:
        return _fail("the browser app needs the viz extra: pip install 'channel-agents[viz]'")
    from channel_agents.viz.assets import missing_assets

    missing = missing_assets()
    if missing:
        print(
            "channel-agents viz: warning: offline JavaScript missing "
            f"({', '.join(missing)}); the page needs internet until you run "
            "`python -m channel_agents.viz.assets` (make install does)",
            file=sys.stderr,
        )
    if not is_loopback(args.host):
        print(
            f"channel-agents viz: warning: listening on {args.host}, not only this computer: "
            "anyone on the network can open the page (the classroom page asks for the "
            "instructor key)",
            file=sys.stderr,
        )
    if not _port_free(args.host, args.port):
        return _fail(f"--port {args.port}: already in use on {args.host}; choose another port")
    games = Path(args.games).resolve()
    try:
        games.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return _fail(f"--games {args.games}: cannot create the folder ({exc.strerror})")
    key = args.instructor_key or env.get(INSTRUCTOR_KEY_ENV)
    if not key:
        stored = games / "instructor_key.txt"
        key = stored.read_text(encoding="utf-8").strip() if stored.is_file() else ""
        if not key:
            key = secrets.token_urlsafe(6)
            stored.write_text(key + "\n", encoding="utf-8")
    env[GAMES_DIR_ENV] = str(games)
    env[SEAT_TIMEOUT_ENV] = repr(float(args.seat_timeout))
    env[INSTRUCTOR_KEY_ENV] = key
    if args.host in ("0.0.0.0", "::", "[::]"):
        shown, where = socket.gethostname(), " (listening on all interfaces)"
    else:
        shown, where = ("localhost" if is_loopback(args.host) else args.host), ""
    url = f"http://{shown}:{args.port}/"
    print(f"channel-agents viz: serving {url}{where}", flush=True)
    print(f"  classroom (instructor): {url}classroom   key: {key}", flush=True)
    print(f"  students join at:       {url}play", flush=True)
    print("  stop with Ctrl-C", flush=True)
    proc = subprocess.Popen(solara_command(args.host, args.port), env=env)

    def _stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _stop)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        return 0
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
