"""``aro-tui [PATH]``: open the dashboard on a plugins folder."""

from __future__ import annotations

import argparse
import sys

from aro_tui.commands import path_argument, seconds
from aro_tui.core.plugins.discovery import (
    DiscoveryError,
    discover,
    is_plugin_folder,
    resolve_search_path,
)


def build_parser() -> argparse.ArgumentParser:
    """The dashboard's options."""
    parser = argparse.ArgumentParser(
        prog="aro-tui",
        description="Open the dashboard on PATH (default: ./Plugins, else the bundled plugins).",
    )
    parser.add_argument(
        "path", nargs="?", type=path_argument, help="an app folder or a plugins folder"
    )
    parser.add_argument(
        "--python", type=path_argument, help="interpreter for plugins without their own .venv"
    )
    parser.add_argument(
        "--timeout",
        type=seconds,
        default=300.0,
        help="seconds a call may take (default 300); a plugin's start gets the same, at least 30",
    )
    parser.add_argument(
        "--demo-gpu",
        action="store_true",
        help="a scripted 24 GiB GPU whose plugin memory mirrors host memory growth",
    )
    parser.add_argument(
        "--sample-interval",
        type=seconds,
        default=1.0,
        metavar="SECONDS",
        help="seconds between memory samples (default 1.0, at least 0.1)",
    )
    parser.add_argument(
        "--reload",
        action="store_true",
        help=(
            "restart a plugin, once idle, when a file in its folder changes or is deleted "
            "(default: say so)"
        ),
    )
    parser.add_argument(
        "--no-record",
        action="store_true",
        help="don't record this session (default: recorded; see 'aro-tui sessions')",
    )
    return parser


def run_dashboard(argv: list[str]) -> int:
    """Parse ``argv``, discover plugins, run the app; the exit status."""
    args = build_parser().parse_args(argv)
    if args.sample_interval < 0.1:
        print("aro-tui: --sample-interval must be at least 0.1 s", file=sys.stderr)
        return 2
    search_path = resolve_search_path(args.path)
    try:
        discovery = discover(search_path, configured_interpreter=args.python)
    except DiscoveryError as error:
        print(f"aro-tui: {error}", file=sys.stderr)
        return 2

    from aro_tui.core.input_memory import default_memory_path
    from aro_tui.ui.app import AroApp
    from aro_tui.ui.config import AppConfig

    config = AppConfig(
        plugins_path=search_path,
        interpreter=args.python,
        timeout_s=args.timeout,
        memory_path=default_memory_path(),
        demo_gpu=args.demo_gpu,
        sample_interval_s=args.sample_interval,
        user_files=True,
        record=not args.no_record,
        reload=args.reload,
        watch_plugins_dir=None if is_plugin_folder(discovery) else discovery.plugins_dir,
    )
    app = AroApp(config, discovery)
    app.run()
    # Textual prints an unhandled exception's traceback itself and sets return_code to 1.
    return app.return_code or 0
