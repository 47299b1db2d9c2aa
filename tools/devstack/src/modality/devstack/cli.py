"""``modality-stack run``: the whole product locally, one command, no Docker."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from modality.devstack import banner
from modality.devstack.errors import DevstackError, StopRequested
from modality.devstack.settings import StackSettings
from modality.devstack.stack import SERVICES, Stack


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="modality-stack", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run",
        help="start NATS, Postgres, Redis, migrations and every service; Ctrl-C stops all",
    )
    run.add_argument(
        "--state-dir", type=Path, help="state folder (default: $MODALITY_STATE_DIR or var/)"
    )
    run.add_argument(
        "--infra-only",
        action="store_true",
        help="start the servers and apply migrations, but no services (run those yourself)",
    )
    return parser


def _handle_signals(stack: Stack) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        if stack.stop_requested:
            stack.say("second signal: killing everything now")
            stack.kill_now()
        else:
            stack.say(f"{signal.Signals(signum).name}: stopping")
            stack.request_stop()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def run(stack: Stack) -> int:
    """Start, wait for Ctrl-C/SIGTERM or a crash, stop. Returns the exit code."""
    _handle_signals(stack)
    try:
        stack.start()
    except StopRequested:
        return 0
    except DevstackError:  # already reported by start(), before it stopped everything
        return 1
    stack.echo(
        banner.render(
            services={svc.spec.name: svc for svc in stack.services},
            urls=stack.urls,
            admin_token=stack.admin_token,
            logs=stack.paths.logs,
        )
    )
    failure = stack.watch()
    if failure is not None:
        stack.say(f"failed: {failure}")
    stack.stop()
    return 1 if failure is not None else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = StackSettings()
    if args.state_dir is not None:
        settings = settings.model_copy(update={"state_dir": args.state_dir})
    stack = Stack(settings, services=() if args.infra_only else SERVICES)
    return run(stack)


if __name__ == "__main__":
    sys.exit(main())
