"""The model's flags are made from its config (cli/config_flags.py), and a run's length is --steps.

For each train command: every field of its config is a flag whose help
shows its default (each preset's, where they differ) and whose choices are
the config's; a value the config refuses is a usage error naming the flag,
before any data is read; ``--iters`` is ``--steps`` by another name, and
``train mlp`` counts epochs, not steps.
"""

import argparse
import dataclasses
import json

import pytest
from cli_runner import assert_fails, run

from shapesafe_nn.cli import build_parser, gpt, mlp, translate
from shapesafe_nn.cli.config_flags import add_config_flags, config_defaults, flag
from shapesafe_nn.core.validate import InvalidArgument
from shapesafe_nn.models import TranslatorConfig
from shapesafe_nn.models.ladder import LadderConfig
from shapesafe_nn.models.mlp import NetworkConfig
from shapesafe_nn.models.settings import choices_of, help_of, setting

# each train command: its config, the fields no flag gives, its presets and defaults
COMMANDS = {
    "gpt": (LadderConfig, gpt.GIVEN_BY_THE_DATA, gpt.PRESETS, gpt.MODEL_DEFAULTS),
    "translate": (TranslatorConfig, translate.GIVEN_BY_THE_DATA, translate.PRESETS,
                  translate.MODEL_DEFAULTS),
    "mlp": (NetworkConfig, mlp.NOT_FLAGS, {}, mlp.BOOK),
}
# a field the data gives a valid value to, for building a config here
DATA = {LadderConfig: dict(vocab_size=7), NetworkConfig: {},
        TranslatorConfig: dict(src_vocab_size=7, tgt_vocab_size=7)}


def subparser(*path: str) -> argparse.ArgumentParser:
    """The parser of ``shapesafe-nn path...`` (``"train", "gpt"``)."""
    parser = build_parser()
    for name in path:
        commands, = (action for action in parser._actions
                     if isinstance(action, argparse._SubParsersAction))
        parser = commands.choices[name]
    return parser


def option(parser: argparse.ArgumentParser, flag_text: str) -> argparse.Action:
    actions = [action for action in parser._actions if flag_text in action.option_strings]
    assert actions, f"no {flag_text} flag"
    return actions[0]


def shown(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_config_field_is_a_flag_whose_help_shows_its_default(command):
    config_type, not_flags, presets, defaults = COMMANDS[command]
    parser = subparser("train", command)
    printed = run("train", command, "--help").out
    for field in dataclasses.fields(config_type):
        if field.name in not_flags:
            continue
        action = option(parser, flag(field.name))
        assert flag(field.name) in printed
        assert "default" in action.help, (field.name, action.help)
        if field.name == "seed":  # the run's --seed: it seeds the batches too
            continue
        if field.name == "max_len":  # the translator's: the data's longest sentence
            assert "the longest of the data" in action.help
            continue
        assert help_of(field) in action.help  # the config's words, not a copy
        assert action.choices == choices_of(field)
        by_preset = [settings[field.name] for settings in presets.values()
                     if field.name in settings]
        for value in by_preset or [defaults[field.name]]:
            if value is not None:  # None: the help says it (d_ff: 4 * d_model)
                assert shown(value) in action.help, (field.name, action.help)


def test_the_help_gives_each_presets_value_where_they_differ():
    assert "(default: baby 4, tiny 2)" in option(subparser("train", "gpt"), "--n-layer").help
    assert "(default 0.0)" in option(subparser("train", "gpt"), "--dropout").help
    assert ("(default: numbers 128, tiny 32, sentences 256)"
            in option(subparser("train", "translate"), "--d-model").help)
    assert "(default 784,30,10)" in option(subparser("train", "mlp"), "--sizes").help
    steps = option(subparser("train", "gpt"), "--steps")
    assert steps.option_strings == ["--steps", "--iters"]
    assert "(default: baby 2000, tiny 100)" in steps.help


@pytest.mark.parametrize("path", [("train", "gpt"), ("train", "translate"), ("train", "mlp"),
                                  ("eval", "gpt"), ("eval", "translate"), ("eval", "mlp"),
                                  ("sample",), ("translate",)])
def test_every_option_says_what_it_does(path):
    for action in subparser(*path)._actions:
        if action.option_strings and action.dest != "help":
            assert action.help, f"{' '.join(path)} {action.option_strings[0]} has no help"


def test_a_new_config_field_is_a_new_flag_with_its_type_default_and_choices():
    @dataclasses.dataclass(frozen=True)
    class Toy:
        vocab: int = setting(help="from the data")
        width: int = setting(8, "how wide")
        kind: str = setting("a", "which kind", ("a", "b"))
        share: float = setting(0.5, "how much, 50%")
        extra: int | None = setting(None, "more (default: none)")
        seed: int = setting(0, "seeds it")

    parser = argparse.ArgumentParser()
    add_config_flags(parser, Toy, ("vocab",), config_defaults(Toy, ("vocab",)),
                     {"small": {"width": 2}, "big": {"width": 16}})
    flags = {action.dest: action for action in parser._actions if action.dest != "help"}
    assert set(flags) == {"width", "kind", "share", "extra"}  # seed: the run's --seed
    assert flags["width"].help == "how wide (default: small 2, big 16)"
    assert flags["kind"].help == "which kind (default a)"
    assert flags["share"].help == "how much, 50%% (default 0.5)"  # argparse's % escaped
    assert flags["extra"].help == "more (default: none)"
    args = parser.parse_args(["--width", "3", "--kind", "b", "--share", "0.25", "--extra", "5"])
    assert vars(args) == dict(width=3, kind="b", share=0.25, extra=5)
    assert vars(parser.parse_args([])) == dict(width=None, kind=None, share=None, extra=None)

    @dataclasses.dataclass(frozen=True)
    class Unreadable:
        shape: tuple[int, ...] = setting((1, 2), "no flag type reads it")

    with pytest.raises(TypeError, match="Unreadable.shape"):
        add_config_flags(argparse.ArgumentParser(), Unreadable, (), {"shape": [1, 2]}, {})


def test_a_field_must_say_what_it_means():
    with pytest.raises(ValueError, match="help"):
        setting(3)


@pytest.mark.parametrize("config_type", [LadderConfig, TranslatorConfig, NetworkConfig])
def test_each_choice_a_flag_offers_is_one_the_config_accepts_and_no_other(config_type):
    for field in dataclasses.fields(config_type):
        for choice in choices_of(field) or ():
            config_type(**DATA[config_type], **{field.name: choice})
        if choices_of(field):
            with pytest.raises(InvalidArgument) as error:
                config_type(**DATA[config_type], **{field.name: "nonsense"})
            assert error.value.name == field.name


@pytest.mark.parametrize("argv, message", [
    (["gpt", "--n-layer", "0"], "argument --n-layer: GPTConfig: n_layer must be a positive "
                                "integer, not 0"),
    (["gpt", "--block-size", "-3"], "argument --block-size: GPTConfig: block_size must be"),
    (["gpt", "--d-ff", "0"], "argument --d-ff: GPTConfig: d_ff must be a positive integer"),
    (["gpt", "--dropout", "nan"], "argument --dropout: GPTConfig: dropout must be a "
                                  "probability in [0, 1), not nan"),
    (["gpt", "--d-model", "30"], "argument --n-head: GPTConfig: d_model 30 is not divisible "
                                 "by n_head 4"),
    (["gpt", "--rung", "bigram", "--dropout", "0.1"], "argument --dropout: LadderConfig: "
                                                      "dropout 0.1 is what rung 'full' adds"),
    (["gpt", "--rung", "head", "--norm-type", "rms"], "argument --norm-type: LadderConfig: "
                                                      "norm_type 'rms' is the norm of rungs"),
    (["translate", "--n-head", "3"], "argument --n-head: TranslatorConfig: d_model 128 is not "
                                     "divisible by n_head 3"),
    (["translate", "--dropout", "1"], "argument --dropout: TranslatorConfig: dropout must be a "
                                      "probability in [0, 1), not 1.0"),
    (["translate", "--d-ff", "0"], "argument --d-ff: TranslatorConfig: d_ff must be a positive "
                                   "integer, not 0"),
    (["mlp", "--sizes", "784,0,10"], "argument --sizes: NetworkConfig: sizes[1] must be a "
                                     "positive integer, not 0"),
], ids=["gpt-zero-layers", "gpt-negative-block", "gpt-zero-d-ff", "gpt-nan-dropout",
        "gpt-heads-that-do-not-divide", "gpt-dropout-below-full", "gpt-rms-below-residual",
        "translate-heads-that-do-not-divide", "translate-dropout-one", "translate-zero-d-ff",
        "mlp-zero-neurons"])
def test_a_value_the_config_refuses_is_a_usage_error_naming_the_flag_before_any_data(
        tmp_path, argv, message):
    # the data does not exist: the config refuses the value before anything is read
    result = run("train", *argv, "--data", tmp_path / "missing", "--quiet")
    assert_fails(result, 2, message)
    assert result.err.startswith("usage: ") and result.err.count("\n") == 2  # usage, reason
    assert result.out == ""


def test_steps_and_iters_are_one_flag_and_give_the_same_run(tmp_path):
    small = ("train", "gpt", "--preset", "tiny", "--warmup", 2, "--eval-interval", 6,
             "--eval-iters", 1, "--block-size", 16, "--batch-size", 4)
    by_steps = run(*small, "--steps", 12, "--json", tmp_path / "steps.json")
    by_iters = run(*small, "--iters", 12, "--json", tmp_path / "iters.json")
    assert by_steps.code == 0, by_steps.err
    assert by_iters.out == by_steps.out
    assert by_iters.lines[-1].endswith("after 12 iterations")
    settings = [json.loads((tmp_path / name).read_text())["settings"]
                for name in ("steps.json", "iters.json")]
    assert settings[0] == settings[1] and settings[0]["steps"] == 12 and "iters" not in settings[0]


def test_a_translator_run_takes_iters_for_steps_too():
    parser = build_parser()
    by_iters = translate.settings_from(parser.parse_args(["train", "translate", "--iters", "7",
                                                          "--warmup", "2"]), None)
    by_steps = translate.settings_from(parser.parse_args(["train", "translate", "--steps", "7",
                                                          "--warmup", "2"]), None)
    assert by_iters == by_steps and by_steps["steps"] == 7


def test_the_mlp_counts_epochs_which_are_not_steps():
    assert option(subparser("train", "mlp"), "--epochs").option_strings == ["--epochs"]
    assert_fails(run("train", "mlp", "--steps", 3), 2, "unrecognized arguments: --steps 3")
    assert_fails(run("train", "mlp", "--iters", 3), 2, "unrecognized arguments: --iters 3")
