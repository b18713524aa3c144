"""Every script in ``benchmarks/`` still runs, and still prints what it exists to print.

A benchmark is run by hand, rarely, and by then the package under it has
moved on: a renamed function, a changed signature or a new keyword breaks the
script without breaking any other test, and the speed claim it backs (the
benchmarks README, the pages) becomes one nobody can reproduce.  Each test
here runs one script as a learner would, ``python benchmarks/NAME.py`` from
the repository's root, with the smallest sizes the script takes, and checks
its exit status and the lines it is for: the ratios, the CPU it ran on.
Times and ratios are only checked to be printed, since at these sizes they
measure nothing; what must hold at any size is checked too: the variants a
script compares agree (the same loss from the same weights and batches, the
same sampled tokens), and a causal model reads nothing from the future.

``machine.py`` and ``record.py`` are helpers the others import; they are
tested through them (the ``CPU:``, ``threads:`` and load lines of
``describe()``; the results file every run writes, here into a temporary
folder, since ``benchmarks/results/`` holds the runs the pages quote).

The scripts that compare with PyTorch need the ``reference`` extra and skip
without it, as the other reference tests do (CI requires the extras, see
conftest.py).  ``fused_elementwise.py`` needs numexpr, a tool for that one
measurement and no dependency of the package: its test skips without it,
and no setting turns that skip into a failure.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HELPERS = {"machine", "record"}  # imported by the scripts, not run

# The arguments of each script's smoke run: the smallest sizes it takes.
SMOKE = {
    # one short command, idle and beside one spinning process
    "busy_machine": ["--commands", "train gpt --preset tiny --iters 11", "--loads", "0", "1",
                     "--repeats", "1"],
    "eval_no_grad": ["--rounds", "1", "--iters", "1"],
    "thread_count_bits": ["--kernels", "Haswell", "--sizes", "32", "128"],
    # experiments and ladder train with the tiny preset's 10 warm-up steps: 11 is the fewest
    "experiments": ["--iters", "11", "--eval-iters", "1", "--windows", "1",
                    "--sample-length", "30"],
    "fused_elementwise": ["--rounds", "1", "--repeats", "1"],
    "gpt_reference": ["--iters", "1", "--eval-iters", "1", "--eval-interval", "1"],
    "gpt_step": ["--rounds", "1", "--steps", "1", "--warmup", "0"],
    "ladder": ["--iters", "11", "--eval-iters", "1"],
    "matmul_shapes": ["--repeats", "1"],
    "mlp_epoch": ["--epochs", "1"],
    "mlp_reference": ["--rounds", "1", "--epochs", "1"],
    "peak_memory": ["--iters", "1", "--eval-iters", "1", "--eval-interval", "1"],
    "profile_gpt_step": ["--steps", "1"],
    "sample_reference": ["--rounds", "1", "--tokens", "10"],
    # --evaluate: its unprofiled training steps (3 rounds x 10 a side) take no size option
    "step_side_by_side": ["--steps", "1", "--rounds", "1"],
    # tiny warms up for 10 steps
    "translate_reference": ["--preset", "tiny", "--steps", "11"],
    "whole_run": ["--iters", "1", "--eval-interval", "1", "--eval-iters", "1", "--no-sample"],
}

NUMBER = r"\d+\.\d+"
# machine.describe(): the CPU, its cores and vector units; the threads; the load
DESCRIBED = [r"^CPU: .+, \d+ cores \(avx2 (yes|no), avx512f (yes|no), amx_tile (yes|no)\)$",
             r"^threads: \S", r"^load average \(uptime\): "]
LOAD_AFTER = r"^after the runs, load average \(uptime\): "


def run_script(name: str, *more: str) -> str:
    """``python benchmarks/NAME.py`` with its smoke arguments (and ``more``), from the
    root; its stdout.  The results file it writes is checked too."""
    environment = dict(os.environ, PYTHONIOENCODING="utf-8")  # η, µs, √ in the output
    # a smoke run checks that the script works, not how fast: one BLAS thread
    # keeps its small products from waiting on threads another process holds
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        environment.setdefault(variable, "1")
    with tempfile.TemporaryDirectory() as folder:
        written = Path(folder) / f"{name}.json"
        result = subprocess.run([sys.executable, f"benchmarks/{name}.py", *SMOKE[name], *more,
                                 "--results", str(written)],
                                cwd=ROOT, env=environment, capture_output=True,
                                encoding="utf-8", timeout=300)
        assert result.returncode == 0, (f"benchmarks/{name}.py exited with {result.returncode}\n"
                                        f"{result.stdout}\n{result.stderr}")
        assert_results_file(name, json.loads(written.read_text(encoding="utf-8")), result.stdout)
    return result.stdout


def assert_results_file(name: str, results: dict, out: str) -> None:
    """What record.py writes: the script, its command, the date, the machine,
    every printed line and the figures (tests/test_quoted_figures.py reads them)."""
    assert results["script"] == f"benchmarks/{name}.py"
    assert results["command"].startswith(f"python benchmarks/{name}.py ")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", results["date"])
    assert results["machine"][0].startswith("CPU: ")
    # every line printed before the file was written, then where it went
    printed = out.splitlines()
    assert printed[:-1] == results["output"]
    assert printed[-1].startswith("results written to ")
    assert results["figures"], f"{name} recorded no figures"


def lines_matching(pattern: str, out: str) -> list[re.Match]:
    return list(re.finditer(pattern, out, re.MULTILINE))


def assert_prints(out: str, *patterns: str) -> None:
    """Each pattern matches a whole line or the start of one (``re.MULTILINE``)."""
    for pattern in patterns:
        assert lines_matching(pattern, out), f"no line matches {pattern!r} in:\n{out}"


def test_every_benchmark_script_has_a_smoke_test():
    scripts = {path.stem for path in (ROOT / "benchmarks").glob("*.py")} - HELPERS
    assert scripts - set(SMOKE) == set(), "a script without a smoke run here"


def test_busy_machine():
    out = run_script("busy_machine")
    assert_prints(out, *DESCRIBED, r"^BLAS threads on an idle machine, one a core: \d+",
                  r"^0 spinning processes: auto sees \d+ core\(s\) busy; load average",
                  r"^1 spinning process: auto sees \d+ core\(s\) busy; load average", LOAD_AFTER)
    # each load times both ways, then the ratios of the goals
    assert len(lines_matching(rf"^  train gpt --preset tiny --iters 11 +all +{NUMBER}  auto "
                              rf"+{NUMBER}   auto's threads: \d+", out)) == 2
    assert_prints(out, rf"^  train gpt --preset tiny --iters 11 +{NUMBER}  +{NUMBER}  "
                       rf"+{NUMBER}$")


def test_thread_count_bits():
    out = run_script("thread_count_bits")
    assert_prints(out, r"^shapes \(M, K\) @ \(K, N\), M, K and N each of \[32, 128\]",
                  r"^kernel +float32 +float64 +float32, 1 row +float32, 2 rows",
                  r"^Haswell +\d+ of 8 +\d+ of 8 +\d+ of 4 ", r"^OpenBLAS \d")


def test_eval_no_grad():
    # "before" is the package at an old commit, taken from the repository's history
    before = "1d191d2"
    known = shutil.which("git") and subprocess.run(
        ["git", "-C", str(ROOT), "cat-file", "-e", f"{before}^{{commit}}"], capture_output=True)
    if not known or known.returncode != 0:
        pytest.skip(f"eval_no_grad.py reads commit {before} from git history, which this "
                    f"checkout lacks (a shallow clone?)")
    out = run_script("eval_no_grad")
    assert_prints(out, *DESCRIBED, r"^one evaluation: 1 batches of each split", LOAD_AFTER)
    losses = {}
    for way in ("before", "recording", "estimate_loss"):
        [line] = lines_matching(rf"^  {way} +{NUMBER} s   loss ({NUMBER})   "
                                rf"before / this = {NUMBER}$", out)
        losses[way] = float(line[1])
    # the same model, weights and batches three ways: the same loss, up to float32 rounding
    assert max(losses.values()) - min(losses.values()) < 1e-4, losses


def test_experiments():
    out = run_script("experiments")
    trained = lines_matching(r"^  .+ trained and measured in +" + NUMBER + " s$", out)
    assert len(trained) >= 10  # seven scores, two more masks, a second seed
    assert_prints(out, r"^tiny GPT: vocab \d+", r"^variant +train +val +future hidden",
                  rf"^scaled_dot, causal +{NUMBER} +{NUMBER} +{NUMBER} +\d+% +\d+% +\d+%$",
                  r"^noise: another initialization moved the val loss by ",
                  r"^samples \(prompt a newline, seed 0, the first 30 of 30 characters",
                  r"^the width table", r"^  scaled_dot( +\d+%){4}$", r"^what happened, and why:")
    assert len(lines_matching(r"^- .+: \S", out)) == len(trained)  # one explanation each
    # a causal model reads no future: prefix by prefix or whole, the same losses
    [gap] = lines_matching(r"^causal models: future hidden and whole-window losses differ by "
                           r"at most (\S+) per window", out)
    assert float(gap[1]) < 1e-4, gap[0]


def test_fused_elementwise():
    pytest.importorskip("numexpr", reason="numexpr is an optional tool for this one "
                                          "measurement, not a dependency of shapesafe_nn")
    out = run_script("fused_elementwise")
    assert_prints(out, *DESCRIBED, r"^numexpr \S+, \d+ threads", r"^median µs per call",
                  r"^  GELU forward", r"^  LayerNorm forward", r"^  softmax", LOAD_AFTER)
    # three cases, each: the layer's numpy, numexpr, numpy in two threads
    assert len(lines_matching(rf"^    .+ µs   / numpy +{NUMBER}$", out)) == 9


@pytest.mark.reference
def test_gpt_reference():
    pytest.importorskip("torch")
    out = run_script("gpt_reference")
    assert_prints(out, r"^baby GPT, [\d,]+ parameters, 1 steps",
                  rf"^step +1: train loss {NUMBER}, val loss {NUMBER} .*\[shapesafe_nn\]$",
                  rf"^step +1: train loss {NUMBER}, val loss {NUMBER} .*\[PyTorch\]$",
                  rf"^final val loss: shapesafe_nn {NUMBER}, PyTorch {NUMBER}, "
                  rf"difference [+-]{NUMBER} \(bar: within 0.05: met\)$",
                  rf"^wall time: shapesafe_nn {NUMBER} s \(checks first\), PyTorch {NUMBER} s "
                  rf"\(\d+ threads\), ratio {NUMBER}$")


@pytest.mark.reference
def test_gpt_step():
    pytest.importorskip("torch")
    out = run_script("gpt_step")
    assert_prints(out, *DESCRIBED, LOAD_AFTER, r"^baby GPT: vocab \d+, block 64, batch 12",
                  *(rf"^  shapesafe_nn, checks {mode} +{NUMBER} ms/step$"
                    for mode in ("off", "first", "always")),
                  rf"^  PyTorch eager \(\d+ threads\) +{NUMBER} ms/step$",
                  rf"^checks off / PyTorch: +{NUMBER}$", rf"^checks first / off: +{NUMBER}$",
                  rf"^checks always / off: +{NUMBER}$",
                  rf"^MFU: {NUMBER} GFLOP per step; numpy float32 matmul peak {NUMBER} GFLOP/s")
    assert len(lines_matching(rf"GFLOP/s, MFU {NUMBER}$", out)) == 2


@pytest.mark.parametrize("name", ["experiments", "ladder"])
def test_too_few_iters_is_a_usage_error(name):
    # both warm up for the tiny preset's 10 steps: --iters 10 or less is refused
    # before any training, with the smallest value allowed
    result = subprocess.run([sys.executable, f"benchmarks/{name}.py", "--iters", "5"],
                            cwd=ROOT, capture_output=True, encoding="utf-8", timeout=60)
    assert result.returncode == 2, f"{result.stdout}\n{result.stderr}"
    assert result.stderr.startswith("usage: "), result.stderr
    assert f"{name}.py: error: --iters must be at least 11: " in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == "", result.stderr


def test_ladder():
    out = run_script("ladder")
    trained = lines_matching(r"^  \w+ +trained in +" + NUMBER + " s$", out)
    rows = lines_matching(rf"^\d \w+ .* {NUMBER} +{NUMBER}", out)  # number, rung, ..., losses
    assert len(rows) == len(trained) >= 7, out
    assert_prints(out, r"^tiny GPT: vocab \d+", r"^  full +seed 1 trained in",
                  r"^  full, seed 1 ", r"^noise: another initialization moved",
                  rf"^the best bigram, by counting the train split's pairs: val loss {NUMBER}",
                  r"^samples \(")


def test_matmul_shapes():
    out = run_script("matmul_shapes")
    assert_prints(out, r"^x: \(batch 12, seq 64, d_in\), float32; median of 1$",
                  r"^  product +3-D @ 2-D +2-D rows +ratio$")
    assert len(lines_matching(rf"^  .+ {NUMBER}ms +{NUMBER}ms +{NUMBER}x$", out)) == 4


def test_mlp_epoch():
    out = run_script("mlp_epoch")
    assert_prints(out, *DESCRIBED, LOAD_AFTER, r"^4,000 examples per epoch, batch 10, median of 1 epochs$",
                  *(rf"^  batched, checks {mode} +{NUMBER} s/epoch$"
                    for mode in ("off", "first", "always")),
                  rf"^  per example \(the book's loop\) +{NUMBER} s/epoch$",
                  rf"^batched \(checks off\) vs per example: {NUMBER}x faster$",
                  rf"^batched \(checks first\) vs per example: {NUMBER}x faster$",
                  rf"^checks first / off: +{NUMBER}$", rf"^checks always / off: +{NUMBER}$")


def test_mlp_reference():
    out = run_script("mlp_reference")
    assert_prints(out, *DESCRIBED, r"^Network \[784, 30, 10\], sigmoid, quadratic cost",
                  *(rf"^  shapesafe-nn train mlp, checks {mode} +{NUMBER} s   test accuracy "
                    for mode in ("always", "first", "off")),
                  rf"^  the book's network.py algorithm +{NUMBER} s   test accuracy ",
                  r"^ratios of medians \(the command / the book's algorithm\)",
                  *(rf"^  checks {mode}: +{NUMBER}$" for mode in ("always", "first", "off")),
                  LOAD_AFTER)


@pytest.mark.reference
def test_peak_memory():
    pytest.importorskip("torch")
    out = run_script("peak_memory")
    assert_prints(out, r"^baby GPT, 1 iterations, .*: peak resident memory$",
                  rf"^  shapesafe_nn \(train gpt, checks always\) +{NUMBER} MiB$",
                  rf"^  PyTorch eager \(the same run\) +{NUMBER} MiB$",
                  rf"^shapesafe_nn / PyTorch: {NUMBER}$")


@pytest.mark.reference
def test_profile_gpt_step():
    pytest.importorskip("torch")  # it takes the step's settings from gpt_step.py
    out = run_script("profile_gpt_step")
    assert_prints(out, *DESCRIBED, LOAD_AFTER, rf"^baby GPT step, checks off: {NUMBER} ms \(mean of 1 steps\)$",
                  r"^  self time of +ms/step +share$",
                  *(rf"^  {re.escape(row)} +-?{NUMBER} +-?{NUMBER}%$"
                    for row in ("Dense.forward", "Dense.backward", "MultiHeadAttention.forward",
                                "GELU.forward", "LayerNorm.backward", "AdamW.step",
                                "clip_grad_norm", "(outside: batches, Python)")))


@pytest.mark.reference
def test_sample_reference():
    pytest.importorskip("torch")
    out = run_script("sample_reference")
    assert_prints(out, *DESCRIBED, r"^baby GPT from docs/assets/baby_gpt.npz: vocab \d+",
                  r"^ratios of medians, all from this process:$",
                  rf"^  ours, cache, checks always / PyTorch, no cache: +{NUMBER}$",
                  rf"^  ours, cache, checks off / PyTorch, cache: +{NUMBER}$",
                  rf"^  ours, checks off: cache / no cache: +{NUMBER}$",
                  rf"^  PyTorch: cache / no cache: +{NUMBER}$", LOAD_AFTER,
                  r"^the first 60 characters of ours: ")
    # six ways, one text: each wrote the same 10 tokens as ours
    ways = lines_matching(rf"^  (ours|PyTorch), .* +{NUMBER} +{NUMBER}   (\d+)/10$", out)
    assert [way[2] for way in ways] == ["10"] * 6, out


@pytest.mark.reference
def test_translate_reference():
    pytest.importorskip("torch")
    out = run_script("translate_reference")
    scores = rf"BLEU {NUMBER}, chrF {NUMBER}, exact match {NUMBER}"
    assert_prints(out, *DESCRIBED, r"^PyTorch \S+, \d+ threads; numpy \S+$",
                  r"^greedy translations of [\d,]+ held-out pairs:$",
                  rf"^  shapesafe_nn: {scores}  \(trained here in {NUMBER} min, evaluations "
                  r"included\)$",
                  rf"^  PyTorch     : {scores}  \(trained here in {NUMBER} min\)$",
                  rf"^  BLEU difference [+-]{NUMBER}; signature nrefs:1\|",
                  rf"^ms per step on the same 20 batches: shapesafe_nn \d+ \(checks off\), "
                  rf"\d+ \(checks always\); PyTorch \d+; ratios {NUMBER} and {NUMBER}$",
                  r"^PyTorch's whole training: [\d,]+ steps at \d+ ms a step$", LOAD_AFTER)


@pytest.mark.reference
def test_whole_run():
    pytest.importorskip("torch")
    out = run_script("whole_run")
    assert_prints(out, *DESCRIBED, r"^baby GPT, 1 steps \(0 warm-up\), 4 evaluation batches",
                  rf"^  shapesafe-nn train gpt, checks \w+ +{NUMBER} s  \(evaluations ",
                  rf"^  PyTorch, the same run +{NUMBER} s  \(evaluations ",
                  rf"^wall time, median: ours {NUMBER} s, PyTorch {NUMBER} s; "
                  rf"ours / PyTorch = {NUMBER}$", LOAD_AFTER)
    # the same initial weights and batches: after one step the same val loss
    [final] = lines_matching(rf"^final val loss: ours {NUMBER}, PyTorch {NUMBER}, "
                             rf"difference ([+-]{NUMBER})$", out)
    assert abs(float(final[1])) < 0.01, final[0]


@pytest.mark.reference
@pytest.mark.parametrize("more, what", [((), "a training step"),
                                        (("--evaluate",), "an evaluation's forward and loss")])
def test_step_side_by_side(more, what):
    pytest.importorskip("torch")
    out = run_script("step_side_by_side", *more)
    assert_prints(out, *DESCRIBED,
                  rf"^PyTorch \S+, \d+ threads; checks off; {what}",
                  rf"^unprofiled \(median of .*\): ours {NUMBER} ms, PyTorch {NUMBER} ms, "
                  rf"ratio {NUMBER}$",
                  rf"^profiled: ours {NUMBER} ms, PyTorch {NUMBER} ms$",
                  *(rf"^  {row} +{NUMBER} +{NUMBER} +{NUMBER} +-?{NUMBER} ms$"
                    for row in ("matrix products", "GELU", "attention core", "layer norm",
                                "everything else")),
                  LOAD_AFTER)
