"""The console script's help lists the subcommands, each subcommand documents its options, errors become one line."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from detector_app.cli.main import COMMAND_MODULES, build_parser, main, resolve


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "detector_app", *args], capture_output=True, text=True, timeout=300)


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _documented_options(parser: argparse.ArgumentParser) -> list[str]:
    """The options and positionals a user can see in ``--help`` (hidden ones and sub-actions left out)."""
    names: list[str] = []
    for action in parser._actions:
        if action.help == argparse.SUPPRESS or isinstance(action, argparse._SubParsersAction):
            continue
        names.extend(action.option_strings or [action.metavar or action.dest])
    return names


def test_help_lists_every_subcommand_with_its_summary() -> None:
    out = run_cli("--help")
    assert out.returncode == 0, out.stderr
    commands = _subparsers(build_parser())
    assert len(commands) >= len(COMMAND_MODULES)  # every registration module adds at least one subcommand
    helps = {a.dest: a.help for a in next(a for a in build_parser()._actions
                                           if isinstance(a, argparse._SubParsersAction))._choices_actions}
    for name in commands:
        assert name in out.stdout
        assert helps[name] and " ".join(helps[name].split()[:3]) in " ".join(out.stdout.split()), name


@pytest.mark.parametrize("name", sorted(_subparsers(build_parser())))
def test_every_subcommand_help_runs_and_documents_its_options(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([name, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: detector-app {name}")
    subparser = _subparsers(build_parser())[name]
    for option in _documented_options(subparser):
        assert option in text, f"{name} --help does not show {option}"
    for action in subparser._actions:
        if action.option_strings and action.help != argparse.SUPPRESS and not isinstance(action, argparse._HelpAction):
            assert action.help, f"{name} {action.option_strings[0]} has no help text"


@pytest.mark.parametrize("name", sorted(_subparsers(build_parser())))
def test_every_subcommand_names_a_runner_that_exists(name: str) -> None:
    """The function each parser names is found (imported lazily by main, so a typo would show only at run time)."""
    parsers = [_subparsers(build_parser())[name]]
    parsers += list(_subparsers(parsers[0]).values()) if any(
        isinstance(a, argparse._SubParsersAction) for a in parsers[0]._actions) else []
    for parser in parsers:
        target = parser.get_default("run")
        assert isinstance(target, str) and ":" in target, f"{parser.prog} names no runner"
        assert callable(resolve(target))


def test_unknown_subcommand_exits_non_zero() -> None:
    out = run_cli("no-such-command")
    assert out.returncode != 0
    assert "invalid choice" in out.stderr
