"""``detector-app plugins [list|enable NAME|disable NAME]``: what plugins were found, and turning them on or off."""

from __future__ import annotations

import argparse
import json

from detector_app.plugins_api import PluginManager, PluginRecord, get_manager, reset_manager
from detector_app.plugins_api.discovery import install_interrupt_counter
from detector_app.plugins_api.probe import TIMEOUT_ENV
from detector_app.plugins_api.settings import settings_path

COLUMNS = ("name", "state", "kind", "version", "origin")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("plugins", help="list plugins, enable or disable one",
                              description="List the plugins found (state, kind, version, origin and the reason a "
                                          "plugin failed), or enable/disable one. The choice is remembered in "
                                          f"{settings_path().name} in the user config folder. Plugins "
                                          "outside the app's own folder are first tried in a separate process "
                                          f"({TIMEOUT_ENV} seconds at most, default 10), so one that hangs or "
                                          "crashes is listed as failed; the result is kept until its code "
                                          "changes.")
    p.set_defaults(func=run_list, json=False, recheck=False)
    actions = p.add_subparsers(dest="action", metavar="<action>")
    listing = actions.add_parser("list", help="list plugins (the default)")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.add_argument("--recheck", action="store_true",
                         help="try every plugin again instead of reusing the results of earlier runs")
    listing.set_defaults(func=run_list)
    for action, enabled in (("enable", True), ("disable", False)):
        sub = actions.add_parser(action, help=f"{action} a plugin by name")
        sub.add_argument("name")
        sub.set_defaults(func=run_toggle, enabled=enabled)


def run_list(args: argparse.Namespace) -> int:
    if args.recheck:
        install_interrupt_counter()
        manager = PluginManager()
        manager.discover(recheck=True)
        reset_manager(manager)
    records = get_manager().records()
    if args.json:
        print(json.dumps([r.summary() for r in records], indent=2))
    elif not records:
        print("no plugins found")
    else:
        print(format_table(records))
    return 0


def run_toggle(args: argparse.Namespace) -> int:
    record = get_manager().set_enabled(args.name, args.enabled)
    note = f" ({record.error})" if record.error and record.state != "disabled" else ""
    print(f"{record.name}: {record.state}{note}")
    return 0


def format_table(records: list[PluginRecord]) -> str:
    """One row per plugin; the error (if any) on the next line, indented, so it is never cut."""
    rows = [[str(getattr(r, c)) for c in COLUMNS] for r in records]
    widths = [max(len(c), *(len(row[i]) for row in rows)) for i, c in enumerate(COLUMNS)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(COLUMNS, widths, strict=True)) + "  LOCATION"]
    for record, row in zip(records, rows, strict=True):
        lines.append("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) + "  " + record.location)
        if record.error:
            lines.append(f"    error: {record.error}")
    return "\n".join(lines)
