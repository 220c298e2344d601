"""`ecgmon config`: where the daemon's config file is, and what is in effect."""

from __future__ import annotations

import argparse
import json

from monitor.commands.daemon import add_daemon_options, overrides
from monitor.daemon.config import config_path, load_config, render_toml
from monitor.errors import InputError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "config",
        help="show the daemon's config file and the settings in effect",
        description="Print where the config file is and every setting in effect (file plus "
        "any options given here). --init writes the file with these settings.",
    )
    add_daemon_options(parser)
    parser.add_argument(
        "--init",
        action="store_true",
        help="write the config file (refuses to overwrite an existing one)",
    )
    parser.add_argument("--json", action="store_true", help="print the settings as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    path = args.config or config_path()
    config = load_config(path, overrides(args))
    if args.init:
        if path.exists():
            raise InputError(f"{path} already exists; edit it, or remove it first")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(render_toml(config))
        except OSError as exc:
            raise InputError(f"cannot write {path}: {exc.strerror}") from exc
        print(f"wrote {path}")
        return 0
    if args.json:
        print(
            json.dumps(
                {"path": str(path), "exists": path.is_file(), "settings": config.describe()},
                indent=2,
            )
        )
        return 0
    state = "exists" if path.is_file() else "not created yet: defaults in effect (--init)"
    print(f"config file: {path} ({state})")
    print(render_toml(config), end="")
    return 0
