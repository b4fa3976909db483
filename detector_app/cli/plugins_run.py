"""Runs ``detector-app plugins`` (arguments in :mod:`detector_app.cli.plugins_cmd`): list, enable, disable."""

from __future__ import annotations

import argparse
import json

from detector_app.core.names import printable
from detector_app.plugins_api.discovery import install_interrupt_counter
from detector_app.plugins_api.manager import PluginManager, get_manager, reset_manager
from detector_app.plugins_api.records import PluginRecord

COLUMNS = ("name", "state", "kind", "version", "origin")


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
    note = f" ({printable(record.error)})" if record.error and record.state != "disabled" else ""
    print(f"{printable(record.name)}: {printable(record.state)}{note}")
    return 0


def format_table(records: list[PluginRecord]) -> str:
    """One row per plugin; the error (if any) on the next line, indented, so it is never cut."""
    rows = [[printable(getattr(r, c)) for c in COLUMNS] for r in records]
    widths = [max(len(c), *(len(row[i]) for row in rows)) for i, c in enumerate(COLUMNS)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(COLUMNS, widths, strict=True)) + "  LOCATION"]
    for record, row in zip(records, rows, strict=True):
        lines.append("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) + "  " + printable(record.location))
        if record.error:
            lines.append(f"    error: {printable(record.error)}")
    return "\n".join(lines)
