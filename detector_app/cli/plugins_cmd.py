"""``detector-app plugins [list|enable NAME|disable NAME]``: what plugins were found, and turning them on or off."""

from __future__ import annotations

import argparse

from detector_app.plugins_api.probe import TIMEOUT_ENV
from detector_app.plugins_api.settings import settings_path

_RUN = "detector_app.cli.plugins_run"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("plugins", help="list plugins, enable or disable one",
                              description="List the plugins found (state, kind, version, origin and the reason a "
                                          "plugin failed), or enable/disable one. The choice is remembered in "
                                          f"{settings_path().name} in the user config folder. Plugins "
                                          "outside the app's own folder are first tried in a separate process "
                                          f"({TIMEOUT_ENV} seconds at most, default 10), so one that hangs or "
                                          "crashes is listed as failed; the result is kept until its code "
                                          "changes.")
    p.set_defaults(run=f"{_RUN}:run_list", json=False, recheck=False)
    actions = p.add_subparsers(dest="action", metavar="<action>")
    listing = actions.add_parser("list", help="list plugins (the default)")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.add_argument("--recheck", action="store_true",
                         help="try every plugin again instead of reusing the results of earlier runs")
    listing.set_defaults(run=f"{_RUN}:run_list")
    for action, enabled in (("enable", True), ("disable", False)):
        sub = actions.add_parser(action, help=f"{action} a plugin by name")
        sub.add_argument("name")
        sub.set_defaults(run=f"{_RUN}:run_toggle", enabled=enabled)
