"""Every option of every command says what it does, and its default where it has one."""

import argparse

import pytest

from shapesafe_nn.cli import build_parser


def options(parser: argparse.ArgumentParser, path: tuple[str, ...] = ("shapesafe-nn",)):
    """(command path, option) for every option of every command and subcommand."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from options(sub, path + (name,))
        elif action.option_strings and action.help != argparse.SUPPRESS:
            yield " ".join(path), action


OPTIONS = list(options(build_parser()))


def test_the_walk_finds_the_commands_options():
    assert len(OPTIONS) > 100
    assert {"shapesafe-nn export", "shapesafe-nn plot positions", "shapesafe-nn trace gpt"} <= \
        {command for command, _ in OPTIONS}


@pytest.mark.parametrize("command, action", OPTIONS,
                         ids=[f"{command} {action.option_strings[-1]}" for command, action in OPTIONS])
def test_every_option_has_help_with_its_default(command, action):
    assert action.help, f"{command} {action.option_strings}: no help text"
    if action.default not in (None, False, argparse.SUPPRESS) and not action.required:
        assert "default" in action.help or "%(default)" in action.help, (
            f"{command} {action.option_strings}: the default {action.default!r} is not shown")
