"""Mutation check: plant one plausible bug at a time, and require the tests to fail.

A test suite is evidence only if it fails on wrong numbers.  Each
:class:`Mutation` below is a single-line bug: one whole line of the package,
matched exactly, replaced by a wrong one.  :func:`check` copies the package
and the tests to a temporary folder, plants one mutation there, and runs the
tests named for it (``pytest -x -q -p no:cacheprovider``) in a
subprocess whose ``shapesafe_nn`` is the copy.  The tests must fail: a
mutation that survives is a hole in the suite.  ``tests/test_mutations.py``
runs every mutation, so the README's ``python -m pytest`` (and CI) does too.

To stay meaningful as the code changes, a mutation names its line in full
and must match exactly one line of its file; if the line is gone or appears
twice, that is an error, not a skip: update the entry to the new code.  Each
names the smallest set of tests that kills it (the test written to catch that
bug, ``file::test``), to keep the check fast.  The unmutated copy must pass
those same tests too, or a "kill" would mean nothing.

Run it directly to see each mutation's time and outcome::

    python tests/mutations.py              # all of them
    python tests/mutations.py sgd-climbs   # some, by name
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from queue import Queue
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
# a pytest run longer than this is an error: no mutation here should make a test hang
TIMEOUT_SECONDS = 300


class Mutation(NamedTuple):
    name: str
    file: str  # inside shapesafe_nn/
    line: str  # one whole line of that file, without its indentation
    replacement: str  # what the line becomes (the indentation is kept)
    tests: tuple[str, ...]  # the tests that must fail: files, or tests in them (file::name)
    meaning: str  # the bug, in words


LAYER_TESTS = "tests/layers/"
HEAD_TESTS = LAYER_TESTS + "test_attention_head.py"
POSITION_TESTS = LAYER_TESTS + "test_positional_encoding.py"
ACTIVATION_GRADCHECK = LAYER_TESTS + "test_activations.py::test_gradients_match_finite_differences"
OPTIM_TESTS = "tests/test_optim.py"
COST_GRADCHECK = "tests/test_losses.py::test_gradients_match_finite_differences"
MUTATIONS = [
    # -- the holes issue 17 measured ------------------------------------------------
    Mutation("gpt-temperature-multiplies", "models/gpt.py",
             "logits /= temperature",
             "logits *= temperature",
             ("tests/models/test_gpt.py::test_temperature_divides_the_logits_before_the_softmax",),
             "generate multiplies the logits by the temperature instead of dividing"),
    Mutation("causal-mask-on-the-diagonal", "layers/attention.py",
             "return _read_only(np.triu(np.ones((q_seq, kv_seq), dtype=bool), "
             "k=1 + kv_seq - q_seq))",
             "return _read_only(np.triu(np.ones((q_seq, kv_seq), dtype=bool), k=kv_seq - q_seq))",
             (HEAD_TESTS + "::test_weights_are_causal_rows_that_sum_to_one",
              HEAD_TESTS + "::test_gradcheck_input_and_every_weight"),
             "the causal mask also hides the diagonal: the first row is all -inf, NaN out"),
    Mutation("adamw-decay-after-the-update", "optim.py",
             "p.value -= denominator",
             "p.value -= denominator * (1.0 - self.lr * self.weight_decay * decays)",
             (OPTIM_TESTS + "::test_adamw_by_hand_over_several_steps_with_decay_and_gradients",),
             "AdamW decays w after the Adam step instead of before: "
             "w(1 - ηλ) - η u (1 - ηλ) = (w - η u)(1 - ηλ)"),
    Mutation("gradcheck-skips-nan-gradients", "testing/gradcheck.py",
             "if (bad := _first_non_finite(analytic)) is not None:",
             "if False:",
             ("tests/test_gradcheck.py::test_nan_gradients_fail_naming_the_array_and_the_index",),
             "gradcheck compares NaN gradients instead of failing on them"),
    Mutation("gradcheck-skips-missing-gradients", "testing/gradcheck.py",
             "if gradient is None:",
             "if gradient is None and False:",
             ("tests/test_gradcheck.py::test_a_missing_input_gradient_fails",),
             "gradcheck lets a float input with no gradient through"),
    # -- one per layer ----------------------------------------------------------------
    Mutation("dense-bias-gradient-mean", "layers/dense.py",
             "self.b.grad += dout.sum(axis=0)",
             "self.b.grad += dout.mean(axis=0)",
             (LAYER_TESTS + "test_dense.py::test_gradients_match_finite_differences",),
             "Dense's db averages over the batch instead of summing"),
    Mutation("sigmoid-derivative-forgets-1-minus-a", "layers/activations.py",
             "return dout * a * (1.0 - a)",
             "return dout * a",
             (ACTIVATION_GRADCHECK,),
             "σ'(z) = a instead of a (1 - a)"),
    Mutation("relu-passes-every-gradient", "layers/activations.py",
             'return dout * self.saved["positive"]',
             "return dout",
             (ACTIVATION_GRADCHECK,),
             "ReLU's backward forgets the 0 where z <= 0"),
    Mutation("tanh-derivative-1-minus-a", "layers/activations.py",
             "return dout * (1.0 - a * a)",
             "return dout * (1.0 - a)",
             (ACTIVATION_GRADCHECK,),
             "tanh' = 1 - a instead of 1 - a²"),
    Mutation("softmax-backward-without-the-jacobian", "layers/activations.py",
             "dz = np.subtract(dp, (dp * p).sum(axis=-1, keepdims=True), out=out)",
             "dz = np.subtract(dp, 0.0, out=out)",
             (ACTIVATION_GRADCHECK,),
             "softmax's backward keeps only the diagonal of its Jacobian"),
    Mutation("gelu-derivative-forgets-the-3", "layers/activations.py",
             "du_dz *= 3 * 0.044715",
             "du_dz *= 0.044715",
             (LAYER_TESTS + "test_gelu.py::test_gradcheck_over_a_wide_range",),
             "u'(z) = √(2/π)(1 + 0.044715 z²): the derivative of z³ without its 3"),
    Mutation("embedding-loses-repeated-ids", "layers/embedding.py",
             'np.add.at(self.W.grad, self.saved["ids"], dout)',
             'self.W.grad[self.saved["ids"]] += dout',
             (LAYER_TESTS + "test_embedding.py::test_gradcheck_of_the_table_with_repeated_ids",),
             "fancy-index += keeps one gradient per row when an id repeats"),
    Mutation("sinusoid-cosine-columns-are-sines", "layers/positional_encoding.py",
             "table[:, 1::2] = np.cos(angles[:, : d_model // 2])",
             "table[:, 1::2] = np.sin(angles[:, : d_model // 2])",
             (POSITION_TESTS + "::test_sinusoid_table_matches_the_formula_entry_by_entry",),
             "the odd columns of the sinusoid table are sines too"),
    Mutation("learned-positions-gradient-mean", "layers/positional_encoding.py",
             'self.P.grad[: self.saved["seq"]] += dout.sum(axis=0)',
             'self.P.grad[: self.saved["seq"]] += dout.mean(axis=0)',
             (POSITION_TESTS + "::test_gradcheck_learned_input_and_table",),
             "a position row's gradient averages over the batch instead of summing"),
    Mutation("layer-norm-variance-path-summed", "layers/layer_norm.py",
             "projection = (dnormalized * normalized).mean(axis=-1, keepdims=True)",
             "projection = (dnormalized * normalized).sum(axis=-1, keepdims=True)",
             (LAYER_TESTS + "test_layer_norm.py::test_gradcheck_input_gamma_and_beta",),
             "LayerNorm's path through σ² sums over d_model instead of averaging"),
    Mutation("rms-norm-forgets-the-path-through-the-root-mean-square", "layers/rms_norm.py",
             "return rrms * (dnormalized - normalized * projection)",
             "return rrms * dnormalized",
             (LAYER_TESTS + "test_rms_norm.py::test_gradcheck_input_and_gamma",),
             "RMSNorm's dx treats 1/rms as a constant: every x_j moves it"),
    Mutation("dropout-keeps-with-probability-p", "layers/dropout.py",
             "keep = self.rng.random(x.shape) >= self.p  # True with probability 1 - p",
             "keep = self.rng.random(x.shape) < self.p",
             (LAYER_TESTS + "test_dropout.py::"
             "test_the_rate_zeroes_a_fraction_p_and_scales_the_rest_by_1_over_1_minus_p",),
             "dropout keeps a fraction p and drops 1 - p"),
    Mutation("feed-forward-skips-the-gelu-backward", "layers/feed_forward.py",
             "drows = self.fc.backward(self.activation.backward(dhidden))",
             "drows = self.fc.backward(dhidden)",
             (LAYER_TESTS + "test_feed_forward.py::test_gradcheck_input_and_every_parameter",),
             "the feed-forward backward skips GELU's derivative"),
    Mutation("transformer-block-drops-the-residual-gradient", "layers/transformer_block.py",
             "dx = dout + norm.backward(dinput)",
             "dx = norm.backward(dinput)",
             (LAYER_TESTS + "test_transformer_block.py::test_gradcheck_input_and_every_parameter",),
             "x's gradient forgets the residual path x -> h"),
    Mutation("multi-head-query-and-key-gradients-swapped", "layers/multi_head_attention.py",
             "return self._into_heads_backward(self.qkv, (dq, dk, dv))",
             "return self._into_heads_backward(self.qkv, (dk, dq, dv))",
             (LAYER_TESTS + "test_multi_head_attention.py::"
              "test_gradcheck_input_and_every_parameter",),
             "dq goes to the key columns of qkv and dk to the query columns"),
    Mutation("attention-head-key-gradient-from-queries", "layers/attention_head.py",
             "drows += self.key.backward(dk.reshape(batch * seq, self.d_head))",
             "drows += self.key.backward(dq.reshape(batch * seq, self.d_head))",
             (HEAD_TESTS + "::test_gradcheck_input_and_every_weight",),
             "the key projection's backward is given dq: a copy-paste slip"),
    Mutation("attention-value-gradient-ignores-dropout", "layers/attention.py",
             'dv = expect("dv", dropped.swapaxes(-1, -2) @ dout, "batch *heads kv_seq d_head")',
             'dv = expect("dv", weights.swapaxes(-1, -2) @ dout, "batch *heads kv_seq d_head")',
             (LAYER_TESTS + "test_multi_head_attention.py::"
              "test_gradcheck_in_training_mode_with_dropout",),
             "dv from the weights before dropout: right in evaluation, wrong in training"),
    # -- one per optimizer, and the schedule --------------------------------------------
    Mutation("sgd-climbs", "optim.py",
             "p.value -= self.lr * p.grad",
             "p.value += self.lr * p.grad",
             (OPTIM_TESTS + "::test_sgd_is_w_minus_lr_times_gradient",),
             "SGD steps up the gradient"),
    Mutation("momentum-forgets-the-learning-rate", "optim.py",
             "v -= self.lr * p.grad",
             "v -= p.grad",
             (OPTIM_TESTS + "::test_momentum_by_hand_over_several_steps_with_changing_gradients",),
             "the velocity takes the raw gradient, not η times it"),
    Mutation("adamw-without-second-moment-bias-correction", "optim.py",
             "bias_correction2 = 1.0 - beta2 ** self.step_count",
             "bias_correction2 = 1.0",
             (OPTIM_TESTS + "::test_adamw_first_step_moves_each_entry_by_lr",),
             "v̂ = v: the first steps are divided by a √v that started at 0"),
    Mutation("warmup-starts-at-zero", "optim.py",
             "return max_lr * (step + 1) / (warmup + 1)",
             "return max_lr * step / (warmup + 1)",
             (OPTIM_TESTS + "::test_schedule_formula_by_hand_at_every_step",),
             "the warm-up's first rate is 0, which the optimizers refuse"),
    # -- one per cost ---------------------------------------------------------------------
    Mutation("quadratic-cost-gradient-not-averaged", "losses.py",
             "return difference / len(difference)",
             "return difference",
             (COST_GRADCHECK,),
             "∂C/∂a = a - y, without the 1/n of C's mean"),
    Mutation("cross-entropy-gradient-divided-by-classes", "losses.py",
             "dlogits /= len(log_p)",
             "dlogits /= log_p.shape[-1]",
             (COST_GRADCHECK,),
             "∂C/∂logits divided by the number of classes instead of rows"),
    # -- the shape core: what its own tests and the contract table must see ------------
    Mutation("layer-norm-dx-forgets-gamma", "layers/layer_norm.py",
             "dnormalized = dout * self.gamma.value",
             "dnormalized = dout",
             ("tests/test_contracts.py::test_backward_matches_finite_differences[LayerNorm]",),
             "LayerNorm's dx ignores γ: right only while γ = 1, which the table no longer builds"),
    Mutation("float-dtype-never-refused", "core/call.py",
             "elif value.dtype != self.float_dtype:",
             "elif False:",
             ("tests/test_float_dtype.py",),
             "a float64 array into a float32 layer runs it at float64 again, silently"),
    Mutation("backward-gradients-unchecked", "core/decorator.py",
             "if gradients:",
             "if False:",
             ("tests/test_explain.py",),
             "a backward may leave W.grad transposed or of another dtype"),
]


class MutationError(Exception):
    """A mutation that cannot be checked: its line is gone, or its tests do not run."""


class Outcome(NamedTuple):
    mutation: Mutation
    killed: bool
    seconds: float
    report: str  # the end of pytest's output


def mutate(source: str, mutation: Mutation) -> str:
    """``source`` with the one line equal to ``mutation.line`` (ignoring indentation) replaced."""
    lines = source.splitlines(keepends=True)
    matches = [i for i, line in enumerate(lines) if line.strip() == mutation.line]
    if len(matches) != 1:
        raise MutationError(f"mutation {mutation.name}: shapesafe_nn/{mutation.file} has "
                            f"{len(matches)} lines equal to {mutation.line!r}, not exactly 1; "
                            f"update the entry in tests/mutations.py to the current code")
    line = lines[matches[0]]
    indent = line[: len(line) - len(line.lstrip())]
    lines[matches[0]] = indent + mutation.replacement + "\n"
    return "".join(lines)


def copy_project(destination: Path) -> None:
    """The package, the tests and pytest's configuration, as the copy's own tree."""
    ignore = shutil.ignore_patterns("__pycache__", ".hypothesis", ".pytest_cache")
    shutil.copytree(ROOT / "shapesafe_nn", destination / "shapesafe_nn", ignore=ignore)
    shutil.copytree(ROOT / "tests", destination / "tests", ignore=ignore)
    shutil.copy2(ROOT / "pyproject.toml", destination / "pyproject.toml")


def run_pytest(copy: Path, tests: tuple[str, ...]) -> tuple[int, str]:
    """pytest's exit status and the end of its output, for ``tests`` in the copy."""
    environment = dict(os.environ, PYTHONPATH=str(copy))
    # the main run already requires the extras; here a missing one only skips
    environment.pop("SHAPESAFE_REQUIRE_EXTRAS", None)
    try:
        done = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                               *tests], cwd=copy, env=environment, capture_output=True,
                              text=True, timeout=TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        raise MutationError(f"pytest {' '.join(tests)} ran past {TIMEOUT_SECONDS} s") from None
    return done.returncode, (done.stdout + done.stderr)[-3000:]


def imported_from(copy: Path) -> Path:
    """Where the copy's python finds ``shapesafe_nn``: it must be the copy, not the checkout."""
    environment = dict(os.environ, PYTHONPATH=str(copy))
    where = "import shapesafe_nn; print(shapesafe_nn.__file__)"
    done = subprocess.run([sys.executable, "-c", where], cwd=copy, env=environment,
                          capture_output=True, text=True, check=True)
    return Path(done.stdout.strip()).parent


def write_source(path: Path, text: str) -> None:
    """Write a module's source and drop its compiled copies, so no run can import a
    .pyc of the text it replaced (a .pyc is trusted by the source's mtime and size)."""
    path.write_text(text, encoding="utf-8")
    for compiled in path.parent.glob(f"__pycache__/{path.stem}.*.pyc"):
        compiled.unlink()


def try_mutation(copy: Path, mutation: Mutation) -> Outcome:
    """Plant ``mutation`` in the copy, run its tests, and put the file back."""
    path = copy / "shapesafe_nn" / mutation.file
    original = path.read_text(encoding="utf-8")
    write_source(path, mutate(original, mutation))
    start = time.perf_counter()
    try:
        status, report = run_pytest(copy, mutation.tests)
    finally:
        write_source(path, original)
    if status not in (0, 1):  # 0: all passed; 1: a test failed; others: pytest could not run
        raise MutationError(f"mutation {mutation.name}: pytest exited with status {status}, "
                            f"so its tests did not run:\n{report}")
    return Outcome(mutation, status == 1, time.perf_counter() - start, report)


def usable_cpus() -> int:
    """The CPUs this process may run on (a container may allow fewer than the machine has)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def check(mutations: list[Mutation],
          workers: int | None = None) -> dict[str, Outcome | MutationError]:
    """Each mutation's outcome, or the MutationError that kept it from being checked.

    The baseline (every named test, unmutated) and the mutations run
    side by side on ``workers`` copies (default: one per CPU); a failing
    baseline is raised, since then no kill means anything.
    """
    results: dict[str, Outcome | MutationError] = {}
    runnable = []
    for mutation in mutations:  # a line that is gone is that mutation's error, found first
        try:
            mutate((ROOT / "shapesafe_nn" / mutation.file).read_text(encoding="utf-8"), mutation)
            runnable.append(mutation)
        except MutationError as error:
            results[mutation.name] = error
    if not runnable:
        return results
    every_test = tuple(sorted({test for mutation in runnable for test in mutation.tests}))
    workers = min(workers or usable_cpus(), len(runnable) + 1)  # + 1: the baseline
    with tempfile.TemporaryDirectory(prefix="shapesafe-mutations-") as folder:
        first = Path(folder) / "copy0"
        copy_project(first)
        if imported_from(first) != first / "shapesafe_nn":
            raise MutationError(f"the copy in {first} imports shapesafe_nn from "
                                f"{imported_from(first)}, not from the copy")
        copies: Queue[Path] = Queue()
        copies.put(first)
        for index in range(1, workers):
            copy = Path(folder) / f"copy{index}"
            shutil.copytree(first, copy)
            copies.put(copy)

        def baseline() -> tuple[int, str]:
            copy = copies.get()
            try:
                return run_pytest(copy, every_test)
            finally:
                copies.put(copy)

        def one(mutation: Mutation) -> Outcome | MutationError:
            copy = copies.get()
            try:
                return try_mutation(copy, mutation)
            except MutationError as error:
                return error
            finally:
                copies.put(copy)

        with ThreadPoolExecutor(max_workers=workers) as pool:
            unmutated = pool.submit(baseline)
            outcomes = list(pool.map(one, runnable))
            status, report = unmutated.result()
    if status != 0:
        raise MutationError(f"the named tests fail without any mutation (exit status {status}), "
                            f"so no mutation can be said to be killed:\n{report}")
    results.update(zip((mutation.name for mutation in runnable), outcomes))
    return {mutation.name: results[mutation.name] for mutation in mutations}


def main(names: list[str]) -> int:
    known = {mutation.name: mutation for mutation in MUTATIONS}
    unknown = [name for name in names if name not in known]
    if unknown:
        print(f"mutations.py: no mutation named {', '.join(unknown)}; the names are: "
              f"{', '.join(known)}", file=sys.stderr)
        return 2
    chosen = [known[name] for name in names] if names else MUTATIONS
    start = time.perf_counter()
    outcomes = check(chosen)
    failed = 0
    for name, outcome in outcomes.items():
        if isinstance(outcome, MutationError):
            failed += 1
            print(f"ERROR    {name}: {outcome}")
        else:
            failed += not outcome.killed
            print(f"{'killed ' if outcome.killed else 'SURVIVED'} {outcome.seconds:5.1f} s  {name}")
    print(f"{len(chosen) - failed} of {len(chosen)} mutations killed "
          f"in {time.perf_counter() - start:.0f} s on {usable_cpus()} CPUs")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
