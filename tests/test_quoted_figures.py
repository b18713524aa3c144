"""Every measured figure the README and the pages quote is the figure its source holds.

The docs tests run every ```` ```python ```` and ```` ```console ```` block
and compare what it prints, but a measurement that takes minutes (a
benchmark, a full training run) is quoted instead: in prose, in a table, in
a ```` ```text ```` block.  Each such figure has one source, and this file
checks it against that source:

- ``benchmarks/results/NAME.json``: what ``benchmarks/NAME.py`` measured on
  its last run (``benchmarks/record.py`` writes it);
- ``docs/assets/NAME.json``: a bundled checkpoint's own record, written by
  the run that trained it;
- the command itself, where it takes seconds (``train mlp``, ``translate``
  with a bundled checkpoint): it is run here, and its output compared.

Each page's quotes are written out below as the page words them, with the
figures filled in from their source.  A figure changed on the page, or a
new run that changes the source, makes a quote go missing from the page,
and the failure names it.  Where a page shows a run's output in a block,
each line of the block must be a line the run printed, in order (lines may
be left out; a line ``...`` says so).
"""

import contextlib
import io
import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from test_docs import assert_same_output

from shapesafe_nn.cli import build_parser, main

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
ASSETS = ROOT / "docs" / "assets"
FENCE = re.compile(r"^([ \t]*)```\w*[^\n]*\n(.*?)^[ \t]*```[ \t]*$", re.MULTILINE | re.DOTALL)
MINUS = "\u2212"  # the pages write a negative difference with the minus sign, −0.046
NANOGPT = "PyTorch, no cache (nanoGPT's)"  # sample_reference.py's name for generate's way


def results(name: str) -> dict:
    """The figures of ``benchmarks/results/NAME.json``."""
    return json.loads((RESULTS / f"{name}.json").read_text(encoding="utf-8"))["figures"]


def record(asset: str) -> dict:
    """A bundled checkpoint's record, ``docs/assets/ASSET.json``."""
    return json.loads((ASSETS / f"{asset}.json").read_text(encoding="utf-8"))


def signed(value: float, places: int = 3) -> str:
    """A difference as the pages write it: −0.046, +0.588."""
    return f"{value:+.{places}f}".replace("-", MINUS)


def flat(text: str) -> str:
    """Text with every run of whitespace (a line break included) one space."""
    return " ".join(text.split())


# ---------------------------------------------------------------------------
# What each page quotes.  ``r`` reads a results file's figures, ``a`` a
# checkpoint's record: a test below hands in altered ones, to see the check fail.
# ---------------------------------------------------------------------------
def the_readme(r, a) -> list[str]:
    baby, numbers = a("baby_gpt"), a("numbers_en_ja")
    arrays = np.load(ASSETS / "baby_gpt.npz", allow_pickle=False)
    parameters = sum(arrays[name].size for name in arrays.files if name.startswith("param/"))
    return [
        f"a character-level GPT of {baby['config']['n_layer']} layers and {parameters:,} "
        f"parameters",
        f"ends at val loss {baby['final']['val_loss']:.4f} after {baby['final']['step']:,} steps",
        f"gives {numbers['final']['exact_match']:.4f} of the 1,000 held-out numbers exactly right",
        f"It scores BLEU {multi30k_rows(r)[1]['bleu']:.2f} on the test set, where PyTorch's "
        f"`nn.Transformer`, trained alike in `benchmarks/translate_reference.py`, scores "
        f"{multi30k_rows(r)[2]['bleu']:.2f}",
        *busy_machine_quotes(r)[:2],
    ]


def page_1(r, a) -> list[str]:
    epoch = r("mlp_epoch")
    return [f"network (checks off) at {epoch['batched_over_per_example']:.1f}x faster per epoch "
            f"than the book's loop"]


def experiment_rows(r):
    figures = r("experiments")
    variants = figures["variants"]
    return (figures, variants["scaled_dot, causal"], variants["scaled_dot, none"],
            variants["scaled_dot, anti_causal"])


def page_5(r, a) -> list[str]:
    figures, base, none, anti = experiment_rows(r)
    assert anti["focus"] == max(row["focus"] for row in figures["variants"].values())
    return [
        f"differ by at most {figures['causal_gap']:.1e} per window",
        f"a train loss of {anti['train']:.3f} against the causal model's {base['train']:.3f}, "
        f"and a val loss almost as low ({anti['val']:.3f})",
        f"the most focused of all the variants ({anti['focus']:.0%}, against "
        f"{base['focus']:.0%} for the causal model)",
        f"with the future hidden, its loss is {anti['future_hidden']:.3f}, worse than a model",
        f"And {anti['words']:.0%} of its sample's words are real, against the causal model's "
        f"{base['words']:.0%}.",
        f"its train loss, {none['train']:.3f}, is lower than the causal model's "
        f"{base['train']:.3f}",
        f"its val loss rises from {none['val']:.3f} to {none['future_hidden']:.3f}, "
        f"{figures['differences']['scaled_dot, none']['future_hidden']:.3f} worse than the "
        f"causal model's {base['future_hidden']:.3f}, and {none['words']:.0%} of its words are "
        f"real",
    ]


def page_6(r, a) -> list[str]:
    ladder = r("ladder")
    rungs = ladder["rungs"]
    names = list(rungs)
    changes = {name: rungs[name]["val"] - rungs[before]["val"]
               for before, name in zip(names, names[1:])}
    smallest = min(abs(change) for change in changes.values())
    quotes = [f"Two seeds differ by {ladder['noise']:.3f}, and the smallest change between "
              f"rungs is {smallest:.3f}",
              f"**bigram ({rungs['bigram']['val']:.3f}).**",
              f"give {ladder['best_bigram_val']:.3f} on the whole val split",
              f"rise: train {rungs['feed_forward']['train']:.3f}, val "
              f"{rungs['feed_forward']['val']:.3f}."]
    quotes += [f"**{name} ({signed(change)}).**" for name, change in changes.items()
               if name != "full"]
    return quotes


def page_9(r, a) -> list[str]:
    whole, reference, baby = r("whole_run"), r("gpt_reference"), a("baby_gpt")
    epoch, step = r("mlp_epoch"), r("gpt_step")
    assert f"{whole['val_loss_ours']:.4f}" == f"{whole['val_loss_pytorch']:.4f}"
    assert f"{reference['val_loss_ours']:.4f}" == f"{reference['val_loss_pytorch']:.4f}"
    return [
        f"step 2000: train loss 1.7720, val loss {whole['val_loss_ours']:.4f} (lr 1.00e-04)",
        f"It ends at val loss {whole['val_loss_ours']:.4f}.",
        f"both ended at val loss {whole['val_loss_ours']:.4f}, ours in "
        f"{whole['ours_seconds']:.1f} s with checks `{whole['checks']}`, PyTorch's in "
        f"{whole['pytorch_seconds']:.1f} s",
        f"both runs ended at {reference['val_loss_ours']:.4f} and agreed",
        f"ends at val loss {baby['final']['val_loss']:.4f} after {baby['final']['step']:,} "
        f"steps",
        f"| MLP epoch (book defaults, batch 10) | {epoch['first_over_off']:.2f} | "
        f"{epoch['always_over_off']:.2f} |",
        f"| baby GPT training step | {step['first_over_off']:.3f} | "
        f"{step['always_over_off']:.3f} |",
    ]


def page_11(r, a) -> list[str]:
    figures, base, none, anti = experiment_rows(r)
    variants, differences = figures["variants"], figures["differences"]

    def val_against_base(name):
        return f"{variants[name]['val']:.3f} ({signed(differences[name]['val'])}"

    causal = [row for name, row in variants.items() if name.endswith(", causal")]
    return [
        f"{figures['seed_spread']:.3f} ({base['val']:.3f} and "
        f"{variants['scaled_dot, causal, seed 1']['val']:.3f}). That is the yardstick",
        f"a variant within {figures['noise']:.3f} of `scaled_dot` has shown nothing",
        f"would move if other windows were drawn) is {figures['standard_error']:.3f}",
        f"Within noise: val {variants['dot, causal']['val']:.3f} against {base['val']:.3f} "
        f"({signed(differences['dot, causal']['val'])}, yardstick {figures['noise']:.3f})",
        f"(focus {variants['dot, causal']['focus']:.0%} against {base['focus']:.0%}) but none "
        f"saturates ({variants['dot, causal']['saturated']:.0%})",
        f"begin {figures['width_table']['dot']['256']:.0%} on one key",
        f"Within noise: {val_against_base('squared_dot, causal')}). What changed is the "
        f"attention: focus {variants['squared_dot, causal']['focus']:.0%}, and "
        f"{variants['squared_dot, causal']['saturated']:.0%} of its rows saturate",
        f"{val_against_base('dot_of_squares, causal')}), focus "
        f"{variants['dot_of_squares, causal']['focus']:.0%}, "
        f"{variants['dot_of_squares, causal']['saturated']:.0%} saturated",
        f"{variants['negative_dot, causal']['val']:.3f} against {base['val']:.3f}: a "
        f"difference of {abs(differences['negative_dot, causal']['val']):.3f}",
        f"focus {variants['negative_dot, causal']['focus']:.0%} against {base['focus']:.0%}",
        f"Within noise: {val_against_base('negative_squared_distance, causal')}), focus "
        f"{variants['negative_squared_distance, causal']['focus']:.0%}",
        f"Within noise: {val_against_base('cosine, causal')}), focus "
        f"{variants['cosine, causal']['focus']:.0%}",
        f"Train {none['train']:.3f} and val {none['val']:.3f}",
        f"({base['train']:.3f}, {base['val']:.3f})",
        f"val is {none['future_hidden']:.3f}, "
        f"{differences['scaled_dot, none']['future_hidden']:.3f} worse than the causal "
        f"model's, and {none['words']:.0%} of the words of its sample are real against "
        f"{base['words']:.0%}",
        f"Train {anti['train']:.3f}, val {anti['val']:.3f}",
        f"(focus {anti['focus']:.0%}). With the future hidden: {anti['future_hidden']:.3f}",
        f"(focus {min(row['focus'] for row in causal):.0%} to "
        f"{max(row['focus'] for row in causal):.0%})",
    ]


def page_12(r, a) -> list[str]:
    french, german = r("translate_reference"), r("translate_reference_en_de")
    assert german["exact_match_ours"] == german["exact_match_pytorch"]
    return [f"It reached {french['exact_match_pytorch']:.4f} where this run reached "
            f"{french['exact_match_ours']:.4f}",
            f"both reached {german['exact_match_ours']:.4f}"]


def multi30k_rows(r) -> tuple[dict, dict, dict]:
    """translate_reference.py's German to English run: its figures, ours, PyTorch's."""
    run = r("translate_reference_multi30k_de_en")
    return run, run["ours"], run["pytorch"]


def page_13(r, a) -> list[str]:
    run, ours, theirs = multi30k_rows(r)
    record = a("multi30k_de_en")["final"]
    return [
        f"exact match {record['exact_match']:.4f}",
        f"val loss {record['val_loss']:.4f} and BLEU {record['bleu']:.2f} on the 1,014 "
        f"validation captions",
        f"BLEU {ours['bleu']:.2f} (chrF {ours['chrf']:.2f}) on test_2016_flickr",
        f"| shapesafe_nn, checks always | {ours['bleu']:.2f} | {ours['chrf']:.2f} | "
        f"{run['ms_per_step_ours_checked']:.0f} ({run['ms_per_step_ours_off']:.0f} with checks "
        f"off) | {run['minutes_ours']:.1f} |",
        f"| PyTorch `nn.Transformer` | {theirs['bleu']:.2f} | {theirs['chrf']:.2f} | "
        f"{run['ms_per_step_pytorch']:.0f} | {run['minutes_pytorch']:.1f} |",
        f"{signed(ours['bleu'] - theirs['bleu'], 2)} BLEU",
        ours["bleu_signature"],
    ]


def the_benchmarks_readme(r, a) -> list[str]:
    step, whole, sample = r("gpt_step"), r("whole_run"), r("sample_reference")
    reference, epoch, profile = r("mlp_reference"), r("mlp_epoch"), r("profile_gpt_step")

    def met(value, goal):
        return "yes" if value <= goal else "no"

    quotes = [
        f"| training step, checks `off` / PyTorch eager: <= 1.0 (`gpt_step.py`) | "
        f"{step['off_over_pytorch']:.2f} | {met(step['off_over_pytorch'], 1.0)} |",
        f"| training step, checks `first` / `off`: <= 1.03 | {step['first_over_off']:.3f} | "
        f"{met(step['first_over_off'], 1.03)} |",
        f"| training step, checks `always` / `off`: <= 1.10 | {step['always_over_off']:.3f} | "
        f"{met(step['always_over_off'], 1.10)} |",
        f"| whole `train gpt` baby run, default checks / PyTorch: <= 1.15 (`whole_run.py`) | "
        f"{whole['ours_over_pytorch']:.2f} | {met(whole['ours_over_pytorch'], 1.15)} |",
        f"| 300 sampled characters, default checks / nanoGPT's `generate`: <= 1.0 "
        f"(`sample_reference.py`) | {sample['over_pytorch_no_cache']['always']:.2f} | "
        f"{met(sample['over_pytorch_no_cache']['always'], 1.0)} |",
        f"| the same, checks `off` | {sample['over_pytorch_no_cache']['off']:.2f} | "
        f"{met(sample['over_pytorch_no_cache']['off'], 1.0)} |",
        f"| `train mlp`, default checks / the book's `network.py` algorithm: <= 1.0 "
        f"(`mlp_reference.py`) | {reference['command_over_book']['always']:.2f} | "
        f"{met(reference['command_over_book']['always'], 1.0)} |",
        # gpt_step.py, profile_gpt_step.py
        f"measured checks `off` / PyTorch {step['off_over_pytorch']:.2f}, `first` / `off` "
        f"{step['first_over_off']:.3f} and `always` / `off` {step['always_over_off']:.3f}",
        f"measured {profile['ms_per_step']:.1f} ms a step with checks {profile['checks']}",
        # whole_run.py
        f"ours {whole['ours_seconds']:.1f} s, PyTorch {whole['pytorch_seconds']:.1f} s, a "
        f"ratio of {whole['ours_over_pytorch']:.2f}, and both ended at val loss "
        f"{whole['val_loss_ours']:.4f}",
        # mlp_epoch.py, mlp_reference.py
        f"(checks off) {epoch['batched_over_per_example']:.1f}x faster per epoch than the "
        f"book's loop, checks `first` / `off` {epoch['first_over_off']:.2f} and `always` / "
        f"`off` {epoch['always_over_off']:.2f}",
        f"the command at its default checks took {reference['command_over_book']['always']:.2f} "
        f"of the book's algorithm's time",
    ]
    # sample_reference.py's table
    ms, plain, cached = (sample["ms_per_token"], sample["over_pytorch_no_cache"],
                         sample["over_pytorch_cache"])
    quotes += [f"| ours, cache, checks `always` | {ms['ours, cache, checks always']:.2f} |",
               f"| ours, cache, checks `off` | {ms['ours, cache, checks off']:.2f} |",
               f"| PyTorch, no cache (nanoGPT's) | {ms[NANOGPT]:.2f} |",
               f"| PyTorch, cache | {ms['PyTorch, cache']:.2f} |",
               f"| **ours, `always` / nanoGPT's** | **{plain['always']:.2f}** |",
               f"| **ours, `off` / nanoGPT's** | **{plain['off']:.2f}** |",
               f"| ours, `always` / PyTorch with a cache | {cached['always']:.2f} |",
               f"| ours, `off` / PyTorch with a cache | {cached['off']:.2f} |"]
    quotes += side_by_side_quotes(r)
    # matmul_shapes.py, eval_no_grad.py, fused_elementwise.py
    ratios = [ms["3-D @ 2-D"] / ms["2-D rows"] for ms in r("matmul_shapes")["ms"].values()]
    quotes.append(f"the 3-D form costs {min(ratios):.1f} to {max(ratios):.1f} times the 2-D one")
    quotes.append(f"Inference mode makes an evaluation "
                  f"{r('eval_no_grad')['before_over']['estimate_loss']:.2f}x faster than before")
    for case, label in (("GELU forward (12, 64, 512)", "GELU forward, (12, 64, 512)"),
                        ("LayerNorm forward (12, 64, 128)", "LayerNorm forward, (12, 64, 128)"),
                        ("softmax (12, 4, 64, 64)", "softmax, (12, 4, 64, 64)")):
        times = r("fused_elementwise")["over_numpy"][case]
        quotes.append(f"| {label} | {times['numpy (the layer)']:.2f} | {times['numexpr']:.2f} | "
                      f"{times['numpy, 2 threads']:.2f} |")
    quotes += experiments_and_ladder_quotes(r)
    quotes += translate_reference_quotes(r)
    quotes += busy_machine_quotes(r)
    return quotes


def side_by_side_quotes(r) -> list[str]:
    step, evaluation = r("step_side_by_side"), r("step_side_by_side_evaluate")
    labels = {"matrix products": "matrix products (dense layers, tied head)",
              "attention core": "attention core (scores, softmax, weighted values)",
              "everything else": "everything else (AdamW, clipping, residuals, heads, "
                                 "embeddings, loss, Python)"}
    elementwise = ("GELU", "attention core", "layer norm")

    def row(label, cells):
        return (f"| {label} | {cells['ours']:.1f} | {cells['PyTorch']:.1f} | "
                f"{cells['ours_over_pytorch']:.2f} | {cells['difference']:+.1f} |")

    quotes = [row(labels.get(name, name), cells) for name, cells in step["rows_ms"].items()]
    quotes += [row(name, cells) for name, cells in evaluation["rows_ms"].items()]
    quotes.append(f"| the profiled step | {step['profiled_ms']['ours']:.1f} | "
                  f"{step['profiled_ms']['PyTorch']:.1f} | | |")
    gap = sum(step["rows_ms"][name]["difference"] for name in elementwise)
    eval_gap = sum(evaluation["rows_ms"][name]["difference"] for name in elementwise)
    quotes.append(f"layer norm cost {gap:.1f} ms more than PyTorch's in a step, the whole "
                  f"profiled gap; in an evaluation, {eval_gap:.1f} ms.")
    quotes.append(f"with evaluations that run at {evaluation['unprofiled_ratio']:.1f}x "
                  f"PyTorch's")
    shares = [sum(figures["rows_ms"][name]["ours"] for name in elementwise)
              / sum(cells["ours"] for cells in figures["rows_ms"].values())
              for figures in (evaluation, step)]
    quotes.append(f"are {shares[0]:.0%} of our evaluation's forward and {shares[1]:.0%} of our "
                  f"step")
    return quotes


def experiments_and_ladder_quotes(r) -> list[str]:
    figures = r("experiments")
    causal = {name: row for name, row in figures["variants"].items()
              if name.endswith(", causal")}
    vals = [row["val"] for row in causal.values()]
    focus = [row["focus"] for row in causal.values()]
    ladder = r("ladder")
    rungs = ladder["rungs"]
    names = list(rungs)
    changes = [rungs[name]["val"] - rungs[before]["val"] for before, name in zip(names, names[1:])]
    assert min(abs(change) for change in changes) >= 20 * ladder["noise"]
    return [
        f"two initializations of the same model differ by {figures['seed_spread']:.3f} in val "
        f"loss, and every score lands within that of `scaled_dot` ({min(vals):.3f} to "
        f"{max(vals):.3f})",
        f"(`focus`: {min(focus):.0%} to {max(focus):.0%} of a row on one position; "
        f"`squared_dot` saturates {causal['squared_dot, causal']['saturated']:.0%} of its rows)",
        f"Every change is at least 20 times the {ladder['noise']:.3f} between two seeds",
        f"The residual stream is the step that matters "
        f"({rungs['residual']['val'] - rungs['feed_forward']['val']:+.3f})",
        f"makes the stack train worse ({rungs['feed_forward']['val'] - rungs['heads']['val']:+.3f})",
        f"Dropout 0.2 costs {rungs['full']['val'] - rungs['residual']['val']:.3f} here",
    ]


def translate_reference_quotes(r) -> list[str]:
    quotes = []
    for name, label in (("translate_reference", "bundled en-fr, 1,000 test numbers"),
                        ("translate_reference_en_de", "`--data` en-de file")):
        run = r(name)
        difference = run["exact_match_ours"] - run["exact_match_pytorch"]
        quotes.append(f"| {run['exact_match_ours']:.4f} | {run['exact_match_pytorch']:.4f} | "
                      f"{signed(difference, 4) if abs(difference) >= 5e-5 else '0.0000'} | "
                      f"{run['ms_per_step_ours']:.0f} / {run['ms_per_step_pytorch']:.0f} "
                      f"({run['ours_over_pytorch']:.2f}) |")
        assert label in read("benchmarks/README.md")
    run, ours, theirs = multi30k_rows(r)
    quotes.append(f"| {ours['bleu']:.2f} / {theirs['bleu']:.2f} | {ours['chrf']:.2f} / "
                  f"{theirs['chrf']:.2f} | {run['ms_per_step_ours_checked']:.0f} / "
                  f"{run['ms_per_step_ours_off']:.0f} / {run['ms_per_step_pytorch']:.0f} "
                  f"({run['ours_checked_over_pytorch']:.2f}) | {run['minutes_ours']:.1f} / "
                  f"{run['minutes_pytorch']:.1f} |")
    return quotes


def busy_machine_quotes(r) -> list[str]:
    """busy_machine.py's ratios, as the READMEs sum them up: a busy machine
    against an idle one, before (every core) and now (auto)."""
    busy = r("busy_machine")
    before = busy["all_busy_over_all_idle"].values()
    now = busy["auto_busy_over_auto_idle"].values()
    idle = busy["auto_idle_over_all_idle"].values()
    return [f"took {min(before):.1f} to {max(before):.1f} times as long as on the idle machine",
            f"the same commands took {min(now):.1f} to {max(now):.1f} times as long",
            f"its look at the machine takes {busy['look_ms']:.1f} ms",
            f"auto's times over all's on the idle machine, {min(idle):.2f} to {max(idle):.2f}"]


def thread_bits_quote(r) -> str:
    """thread_count_bits.py's findings, as the command-line page words them."""
    bits = r("thread_count_bits")

    def none_or(found):
        return "none" if found[0] == 0 else f"{found[0]} of {found[1]}"
    float64 = "none" if all(kernel["float64"][0] == 0 for kernel in bits.values()) else "some"
    return (f"Under the kernel it runs on AMD's CPUs (Haswell's), {bits['Haswell']['float32'][0]} "
            f"of {bits['Haswell']['float32'][1]} float32 shapes came out different in the last "
            f"bits on one thread and on two; under the one for Intel's with AVX-512 "
            f"(SkylakeX's), {none_or(bits['SkylakeX']['float32'])}; float64's, {float64} under "
            f"any")


def the_command_line_page(r, a) -> list[str]:
    """busy_machine.py's table: each command idle and beside a spinning process a core;
    thread_count_bits.py's findings."""
    busy = r("busy_machine")
    most = max(busy["loads"])
    quotes = busy_machine_quotes(r)[:2] + [thread_bits_quote(r)]
    for command, seconds in busy["seconds"].items():
        quotes.append(f"| `{command}` | {seconds['all 0']:.2f} | {seconds['auto 0']:.2f} | "
                      f"{seconds[f'all {most}']:.2f} | {seconds[f'auto {most}']:.2f} | "
                      f"{busy['all_busy_over_all_idle'][command]:.2f} | "
                      f"{busy['auto_busy_over_auto_idle'][command]:.2f} |")
    return quotes


QUOTES: dict[str, Callable] = {
    "docs/command-line.md": the_command_line_page,
    "README.md": the_readme,
    "docs/01-dimensions.md": page_1,
    "docs/05-masking.md": page_5,
    "docs/06-transformer-block.md": page_6,
    "docs/09-training.md": page_9,
    "docs/11-what-if.md": page_11,
    "docs/12-translation.md": page_12,
    "docs/13-real-sentences.md": page_13,
    "benchmarks/README.md": the_benchmarks_readme,
}

# Blocks that show a run's output: (page, results file, the block's first line
# as the run printed it).  Page 11 wraps its long lines, indenting the rest by 4.
OUTPUTS = [
    ("docs/05-masking.md", "experiments", "variant                            train"),
    ("docs/06-transformer-block.md", "ladder", "tiny GPT: vocab 73, block 32, batch 16, 2 layers"),
    ("docs/11-what-if.md", "experiments", "tiny GPT: vocab 73, block 32, batch 16, 2 layers"),
    ("benchmarks/README.md", "experiments", "tiny GPT: vocab 73, block 32, batch 16, 2 layers, 2 heads of"),
    ("benchmarks/README.md", "ladder", "tiny GPT: vocab 73, block 32, batch 16, 2 layers, 2 heads,"),
    ("benchmarks/README.md", "gpt_reference", "baby GPT, 810,880 parameters, 2000 steps"),
    ("benchmarks/README.md", "matmul_shapes", "x: (batch 12, seq 64, d_in), float32"),
    ("benchmarks/README.md", "peak_memory", "baby GPT, 300 iterations, evaluations"),
    ("benchmarks/README.md", "eval_no_grad", "one evaluation: 100 batches of each split"),
    ("benchmarks/README.md", "step_side_by_side", "unprofiled (median of 3 rounds x 8, taking turns): ours 57"),
    ("benchmarks/README.md", "step_side_by_side_evaluate", "unprofiled (median of 3 rounds x 8, taking turns): ours 21"),
    ("docs/13-real-sentences.md", "translate_reference_multi30k_de_en", "Translator (sentences): "),
    ("benchmarks/README.md", "busy_machine", "BLAS threads on an idle machine, one a core: "),
    ("benchmarks/README.md", "thread_count_bits", "shapes (M, K) @ (K, N), M, K and N each of "),
]


def read(page: str) -> str:
    return (ROOT / page).read_text(encoding="utf-8")


def missing_quotes(page: str, r=results, a=record, text: str | None = None) -> list[str]:
    """The quotes of ``page`` (as the sources give them) that its text lacks."""
    text = flat(read(page) if text is None else text)
    return [quote for quote in QUOTES[page](r, a) if flat(quote) not in text]


def blocks_starting(page: str, first_line: str, printed=frozenset()) -> list[list[str]]:
    """The lines of each fenced block on ``page`` whose first line printed (after
    any ``$ command`` line) starts with ``first_line``; page 11's wrapped lines
    joined back (a line indented by four that is not itself a line the run
    ``printed``, as a translation run's evaluation lines are)."""
    found = []
    for match in FENCE.finditer(read(page)):
        lines = [line[len(match.group(1)):] for line in match.group(2).splitlines()]
        # the command that printed it, if the block shows it
        lines = [line for line in lines if not line.startswith(("$ ", "python benchmarks/"))]
        joined = []
        for line in lines:
            if (line.startswith("    ") and joined and not line.startswith("     ")
                    and line.rstrip() not in printed):
                joined[-1] += " " + line.strip()  # a wrapped line's rest
            else:
                joined.append(line)
        if joined and joined[0].startswith(first_line):
            found.append(joined)
    return found


def unprinted_lines(block: list[str], output: list[str]) -> list[str]:
    """The block's lines that are not the run's lines in order (blank lines and
    ``...`` skip)."""
    printed = iter(line.rstrip() for line in output)
    return [line for line in block
            if line.strip() not in ("", "...") and line.rstrip() not in printed]


# ---------------------------------------------------------------------------
@pytest.mark.parametrize("page", QUOTES)
def test_every_quoted_figure_is_its_sources(page):
    missing = missing_quotes(page)
    assert not missing, (f"{page} no longer says these, which its sources give:\n"
                         + "\n".join(missing))


@pytest.mark.parametrize("page, name, first_line", OUTPUTS,
                         ids=[f"{page}:{name}" for page, name, _ in OUTPUTS])
def test_a_runs_output_on_a_page_is_what_the_run_printed(page, name, first_line):
    output = json.loads((RESULTS / f"{name}.json").read_text(encoding="utf-8"))["output"]
    blocks = blocks_starting(page, first_line, {line.rstrip() for line in output})
    assert blocks, f"{page} shows no block starting {first_line!r}"
    for block in blocks:
        extra = unprinted_lines(block, output)
        assert not extra, (f"{page}: lines that {name}'s last run did not print (in this "
                           f"order):\n" + "\n".join(extra))


def test_a_changed_result_or_page_fails_the_check():
    """The check can fail both ways: a new figure in a results file, or a page
    edited without a run."""
    def altered(name):
        figures = results(name)
        if name == "experiments":
            figures["variants"]["scaled_dot, anti_causal"]["future_hidden"] = 5.1
        return figures

    page = read("docs/05-masking.md")
    assert missing_quotes("docs/05-masking.md") == []
    assert any("5.100" in quote for quote in missing_quotes("docs/05-masking.md", r=altered))
    edited = page.replace("its loss is 5.487", "its loss is 5.781")
    assert any("5.487" in quote for quote in missing_quotes("docs/05-masking.md", text=edited))


def test_a_line_the_run_never_printed_is_found():
    output = ["a 1", "b 2", "c 3"]
    assert unprinted_lines(["a 1", "...", "c 3"], output) == []
    assert unprinted_lines(["a 1", "c 4"], output) == ["c 4"]
    assert unprinted_lines(["c 3", "a 1"], output) == ["a 1"]  # out of order


# ---------------------------------------------------------------------------
# The results files themselves
# ---------------------------------------------------------------------------
RESULT_FILES = sorted(RESULTS.glob("*.json"))


@pytest.mark.parametrize("path", RESULT_FILES, ids=[path.stem for path in RESULT_FILES])
def test_a_results_file_says_what_ran_where_and_when(path):
    run = json.loads(path.read_text(encoding="utf-8"))
    assert (ROOT / run["script"]).is_file()
    assert f"python {run['script']}" in run["command"]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", run["date"])
    assert run["machine"] and run["machine"][0].startswith("CPU: ")
    assert isinstance(run["output"], list) and run["figures"]
    if "recorded_from" in run:  # written by hand, from the account of a run
        assert run["recorded_from"].startswith("recorded from benchmarks/README.md's run of ")


def test_every_benchmark_script_has_its_last_run_recorded():
    scripts = {path.stem for path in (ROOT / "benchmarks").glob("*.py")} - {"machine", "record"}
    recorded = {json.loads(path.read_text(encoding="utf-8"))["script"] for path in RESULT_FILES}
    assert {f"benchmarks/{name}.py" for name in scripts} == recorded


# ---------------------------------------------------------------------------
# The bundled checkpoints' records, and what runs in seconds
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("asset", ["baby_gpt", "numbers_en_ja"])
def test_a_checkpoints_record_is_its_own(asset):
    meta = json.loads(str(np.load(ASSETS / f"{asset}.npz", allow_pickle=False)["__meta__"]))
    assert record(asset)["config"] == meta["config"]


def test_the_baby_gpts_record_is_the_run_gpt_reference_compared():
    """benchmarks/README.md: the asset was trained from the draw of that run."""
    history = record("baby_gpt")["history"]
    output = json.loads((RESULTS / "gpt_reference.json").read_text(encoding="utf-8"))["output"]
    ours = [line for line in output if line.endswith("[shapesafe_nn]")]
    assert [f"step {h['step']:5d}: train loss {h['train_loss']:.4f}, val loss "
            f"{h['val_loss']:.4f}" for h in history] == [line[:len("step  2000: train loss "
                                                                     "1.7741, val loss 1.8669")]
                                                         for line in ours]


def run(*argv: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(list(argv)) == 0
    return out.getvalue()


def text_blocks(page: str) -> list[str]:
    return [match.group(2) for match in FENCE.finditer(read(page))]


def test_the_readmes_first_command_prints_what_the_readme_shows():
    # the checks change no number: off is the same run, in a third of the time
    printed = run("train", "mlp", "--checks", "off").replace("checks off", "checks always", 1)
    [shown] = [block for block in text_blocks("README.md") if block.startswith("Network [784")]
    assert_same_output(shown, printed, "README.md")
    [page_9] = [block for block in text_blocks("docs/09-training.md")
                if block.startswith("Epoch 29:")]
    assert_same_output("...\n" + page_9, printed, "docs/09-training.md")
    better = run("train", "mlp", "--checks", "off", "--quiet", "--cost", "cross-entropy",
                 "--init", "scaled", "--lr", "0.5")
    assert_same_output("test accuracy 0.9310 (931/1000)", better, "README.md")
    assert "reaches 0.9310 (931/1000)" in read("docs/09-training.md")


def test_the_bundled_translator_translates_as_the_readme_shows():
    printed = run("translate", "--checkpoint", str(ASSETS / "numbers_en_ja.npz"),
                  "three hundred and twenty-one thousand", "twenty-one")
    assert printed in [block for block in text_blocks("README.md")]


def test_the_readme_shows_the_sample_page_9_shows():
    """Sampled text depends on the CPU's float32 rounding, so neither page's
    sample is compared with a run here; they must at least be the same one."""
    [readme] = [block for block in text_blocks("README.md") if block.startswith("I SASTITIZE")]
    [page_9] = [block for block in text_blocks("docs/09-training.md")
                if block.startswith("I SASTITIZE")]
    assert readme == page_9


# ---------------------------------------------------------------------------
# One way to load a model, and options that exist
# ---------------------------------------------------------------------------
PAGES = ["README.md", *sorted(str(path.relative_to(ROOT)) for path in (ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("page", PAGES)
def test_a_page_loads_a_model_with_the_librarys_load_gpt(page):
    """``shapesafe_nn.saving.load_gpt``, (model, tokenizer); not the command
    line's own (model, tokenizer, description)."""
    imports = re.findall(r"^from (\S+) import .*\bload_gpt\b", read(page), re.MULTILINE)
    assert set(imports) <= {"shapesafe_nn.saving"}, imports


def every_option() -> set[str]:
    options = set()
    parsers = [build_parser()]
    while parsers:
        parser = parsers.pop()
        for action in parser._actions:
            options.update(option for option in action.option_strings if option.startswith("--"))
            if action.choices and isinstance(action.choices, dict):
                parsers += [choice for choice in action.choices.values()
                            if hasattr(choice, "_actions")]
    return options


@pytest.mark.parametrize("page", ["README.md", "docs/command-line.md"])
def test_every_option_a_page_names_exists(page):
    named = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", read(page)))
    named -= {"--index-url"}  # pip's, in the README's note on PyTorch
    assert named <= every_option(), f"{page} names options the CLI lacks"
