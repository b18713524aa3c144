"""``trace``: one row per layer call with input, output and gradient shapes, and the CLI.

The symbolic dims must be those of each method's own annotations, the
concrete shapes those of the arrays that really passed, the parameter counts
must add up to ``num_parameters()``, and the model must come back unchanged:
no wrapped methods left behind (also after an error), gradients as before.
"""

import re

import numpy as np
import pytest
from cli_runner import run

import shapesafe_nn
from shapesafe_nn import Dense, Module, Sequential, ShapeError, Tanh, checks, trace
from shapesafe_nn.core.call import intermediate_watchers
from shapesafe_nn.data import load_bundled, to_inputs
from shapesafe_nn.models import GPT, GPTConfig, Network

BATCH, SEQ, VOCAB, D_MODEL, HEADS = 3, 8, 11, 16, 2




def rows_by_name(table) -> dict:
    return {row.name: row for row in table.rows}


def names(model: Module) -> list[str]:
    return [name or "(model)" for name, _ in model.named_modules()]


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    return to_inputs(load_bundled()[0][::500])  # ten real digits, one of each class


def tiny_gpt(dtype="float32") -> GPT:
    return GPT(GPTConfig(vocab_size=VOCAB, block_size=SEQ, n_layer=2, n_head=HEADS,
                         d_model=D_MODEL, dtype=dtype))


def token_ids() -> np.ndarray:
    return np.random.default_rng(0).integers(0, VOCAB, size=(BATCH, SEQ))


# ---------------------------------------------------------------------------
# Nielsen's network
# ---------------------------------------------------------------------------
def test_network_rows_name_every_layer_with_its_shapes(digits):
    model = Network([784, 30, 10])
    table = trace(model, digits)
    assert [row.name for row in table.rows] == names(model)  # call order = nesting order here
    rows = rows_by_name(table)
    assert rows["(model)"].layer == "Network"
    assert rows["(model)"].input == "x (batch d_in) = (10, 784)"
    assert rows["(model)"].gradient == "dout (batch classes) = (10, 10)"
    assert rows["layers"].input == "x = (10, 784)"  # Sequential declares no dims
    first = rows["layers.0"]
    assert (first.layer, first.input, first.output, first.gradient) == (
        "Dense", "x (batch d_in) = (10, 784)", "(batch d_out) = (10, 30)",
        "dout (batch d_out) = (10, 30)")
    assert rows["layers.1"].input == "z (*shape) = (10, 30)"
    assert rows["layers.2"].input == "x (batch d_in) = (10, 30)"
    assert rows["layers.3"].gradient == "dout (*shape) = (10, 10)"
    assert [row.parameters for row in table.rows] == [0, 0, 784 * 30 + 30, 0, 30 * 10 + 10, 0]
    assert table.total == model.num_parameters() == 23_860


def test_plain_text_gives_each_call_a_line_and_its_shapes_under_it(digits):
    table = trace(Network([784, 30, 10]), digits)
    lines = str(table).splitlines()
    assert lines[0].split() == ["layer", "type", "params"]
    rule = lines.index("-" * len(lines[0]))
    assert lines[-2] == lines[rule] and lines[-1].split() == ["total", "23,860"]
    # the layer's line, then what went in and came out, indented
    first = lines.index(next(line for line in lines if line.startswith("layers.0 ")))
    assert lines[first].split() == ["layers.0", "Dense", "23,550"]
    assert lines[first + 1] == "    x (batch d_in) = (10, 784) → (batch d_out) = (10, 30)"
    # an output with the input's dims and shape is written "same"
    assert "    z (*shape) = (10, 30) → same" in lines
    # the counts end in one column: the table's right edge
    counted = [line for line in lines if line[-1].isdigit()]
    assert len(counted) == 6 + 1 and len({len(line) for line in counted}) == 1
    assert repr(table) == str(table)  # at a Python prompt the table shows as a table


def test_markdown_is_a_valid_table(digits):
    table = trace(Network([784, 30, 10]), digits, markdown=True)
    lines = str(table).splitlines()
    assert lines[0] == "| layer | type | input | output | gradient | params |"
    assert lines[1] == "|---|---|---|---|---|---:|"
    for line in lines:
        assert line.startswith("|") and line.endswith("|")
        assert line.count("|") == 7  # six cells on every line
    assert "| `layers.0` | Dense | `x (batch d_in) = (10, 784)` | `(batch d_out) = (10, 30)` " \
           "| `dout (batch d_out) = (10, 30)` | 23,550 |" in lines
    assert lines[-1] == "| **total** |  |  |  |  | **23,860** |"
    assert len(lines) == 2 + len(names(Network([784, 30, 10]))) + 1


# ---------------------------------------------------------------------------
# The GPT
# ---------------------------------------------------------------------------
def test_gpt_rows_name_every_module_with_symbolic_and_concrete_shapes():
    model = tiny_gpt()
    table = trace(model, token_ids())
    assert [row.name for row in table.rows] == names(model)
    rows = rows_by_name(table)
    stream = f"(batch seq d_model) = ({BATCH}, {SEQ}, {D_MODEL})"
    assert rows["(model)"].input == f"ids (batch seq) = ({BATCH}, {SEQ})"
    assert rows["(model)"].output == f"(batch seq vocab) = ({BATCH}, {SEQ}, {VOCAB})"
    assert rows["(model)"].gradient == f"dlogits (batch seq vocab) = ({BATCH}, {SEQ}, {VOCAB})"
    assert rows["token_embedding"].output == stream
    for name in ("blocks.0", "blocks.1.ln2", "blocks.0.attn", "ln_f"):
        assert (rows[name].input, rows[name].output, rows[name].gradient) == (
            f"x {stream}", stream, f"dout {stream}"), name
    # FeedForward hands its Dense layers one row per position: (batch*seq, d_model)
    assert rows["blocks.0.ff.fc"].input == f"x (batch d_in) = ({BATCH * SEQ}, {D_MODEL})"
    assert rows["blocks.0.ff.fc"].output == f"(batch d_out) = ({BATCH * SEQ}, {4 * D_MODEL})"
    assert rows["blocks.0.ff.gelu"].gradient == f"dout (*shape) = ({BATCH * SEQ}, {4 * D_MODEL})"
    assert rows["blocks.1.attn.attend.dropout"].input == \
        f"x (*shape) = ({BATCH}, {HEADS}, {SEQ}, {SEQ})"
    heads = f"({BATCH}, {HEADS}, {SEQ}, {D_MODEL // HEADS})"
    assert rows["blocks.1.attn.attend"].input == (
        f"q (batch *heads q_seq d_head) = {heads}, k (batch *heads kv_seq d_head) = {heads}, "
        f"v (batch *heads kv_seq d_head) = {heads}")  # no key_padding_mask: none is shown
    # the projections are Dense layers: W (d_out, d_in) and b (d_out,) each
    assert rows["blocks.0.attn.qkv"].parameters == 3 * D_MODEL * D_MODEL + 3 * D_MODEL
    assert rows["blocks.0.attn.proj"].parameters == D_MODEL * D_MODEL + D_MODEL
    # the head is tied to the token embedding: its table is counted once, there
    assert rows["token_embedding"].parameters == VOCAB * D_MODEL
    assert sum(row.parameters for row in table.rows) == table.total == model.num_parameters()


def test_the_attention_scores_get_a_line_with_their_dims():
    table = trace(tiny_gpt(), token_ids())
    rows = rows_by_name(table)
    scores = f"(batch *heads q_seq kv_seq) = ({BATCH}, {HEADS}, {SEQ}, {SEQ})"
    assert rows["blocks.0.attn.attend"].inside == [f"scores, weights, dropped {scores}"]
    assert f"    inside: scores, weights, dropped {scores}" in str(table).splitlines()
    # the split into heads: dims that neither x nor the output has
    d_head = D_MODEL // HEADS
    assert (f"q, k, v, heads (batch n_heads seq d_head) = ({BATCH}, {HEADS}, {SEQ}, {d_head})"
            in rows["blocks.1.attn"].inside)
    # an intermediate with the dims of an argument adds nothing: none for a LayerNorm
    assert rows["blocks.0.ln1"].inside == []


def test_a_dense_fed_one_row_per_position_says_its_batch_is_batch_times_seq():
    rows = rows_by_name(trace(tiny_gpt(), token_ids()))
    flattened = f"batch={BATCH * SEQ} (= batch·seq)"
    for name in ("blocks.0.attn.qkv", "blocks.0.attn.proj", "blocks.1.ff.fc", "blocks.1.ff.proj"):
        assert rows[name].flattened == flattened, name
    assert rows["blocks.0.ff"].flattened == "" and rows["token_embedding"].flattened == ""


def test_a_caller_whose_dims_do_not_multiply_to_the_size_gets_no_note():
    """A Network hands its Dense layers the batch it got: nothing was flattened."""
    rows = rows_by_name(trace(Network([784, 30, 10]), to_inputs(load_bundled()[0][:4])))
    assert all(row.flattened == "" for row in rows.values())


def test_symbols_come_from_the_annotations_even_with_checks_off():
    with checks("off"):
        table = trace(tiny_gpt(), token_ids())
    rows = rows_by_name(table)
    assert rows["blocks.0.ln1"].input == f"x (batch seq d_model) = ({BATCH}, {SEQ}, {D_MODEL})"
    assert rows["blocks.0.attn.attend"].inside  # expect() shows them unchecked too


# ---------------------------------------------------------------------------
# Any model, and what the trace leaves behind
# ---------------------------------------------------------------------------
def test_a_users_own_sequential():
    model = Sequential(Dense(4, 8), Tanh(), Dense(8, 3))
    table = trace(model, np.ones((5, 4)))
    assert [row.name for row in table.rows] == ["(model)", "0", "1", "2"]
    rows = rows_by_name(table)
    assert rows["(model)"].input == "x = (5, 4)" and rows["(model)"].output == "(5, 3)"
    assert rows["0"].input == "x (batch d_in) = (5, 4)"
    assert rows["2"].gradient == "dout (batch d_out) = (5, 3)"
    assert [row.parameters for row in table.rows] == [0, 4 * 8 + 8, 0, 8 * 3 + 3]


class Swapped(Module):
    """Registers ``late`` first but calls ``early`` first: rows follow the calls."""

    def __init__(self):
        super().__init__()
        self.late = Dense(3, 2)
        self.early = Dense(4, 3)
        self.unused = Dense(2, 2)

    def forward(self, x):
        return self.late.forward(self.early.forward(x))

    def backward(self, dout):
        return self.early.backward(self.late.backward(dout))


def test_rows_follow_the_call_order_and_list_layers_never_called():
    model = Swapped()
    table = trace(model, np.ones((2, 4)))
    assert [row.name for row in table.rows] == ["(model)", "early", "late", "unused"]
    unused = rows_by_name(table)["unused"]
    assert unused.input == "not called" and unused.parameters == 2 * 2 + 2
    assert sum(row.parameters for row in table.rows) == model.num_parameters()


def wrapped_methods(model: Module) -> list[str]:
    return [f"{name}.{method}" for name, module in model.named_modules()
            for method in ("forward", "backward") if method in vars(module)]


def test_methods_and_gradients_are_restored(digits):
    model = Network([784, 30, 10])
    for parameter in model.parameters():
        parameter.grad[...] = 0.5
    trace(model, digits)
    assert wrapped_methods(model) == []
    assert intermediate_watchers.get() == ()  # expect() is watched no more
    assert all(np.all(parameter.grad == 0.5) for parameter in model.parameters())
    assert type(model).forward is Network.forward


def test_methods_are_restored_after_an_error():
    model = tiny_gpt()
    wrong = np.random.default_rng(0).integers(0, VOCAB, size=(BATCH, SEQ + 1))  # too long
    with pytest.raises(ValueError, match="block_size"):
        trace(model, wrong)
    assert wrapped_methods(model) == [] and intermediate_watchers.get() == ()
    network = Network([784, 30, 10])
    with pytest.raises(ShapeError, match="d_in"):
        trace(network, np.zeros((2, 785)))
    assert wrapped_methods(network) == []


def test_a_model_that_returns_no_array_is_refused():
    class Counter(Module):
        def forward(self, x):
            return len(x)

        def backward(self, dout):
            return None

    with pytest.raises(TypeError, match="Counter.forward returned int, not a float array"):
        trace(Counter(), np.ones(3))


def test_trace_is_exported_from_the_package():
    assert shapesafe_nn.trace is trace and "trace" in shapesafe_nn.__all__


# ---------------------------------------------------------------------------
# shapesafe-nn trace mlp|gpt
# ---------------------------------------------------------------------------
def test_cli_trace_mlp_defaults():
    code, out, err = run("trace", "mlp")
    assert code == 0, err
    assert out.startswith("Network [784, 30, 10] (untrained) on 10 bundled MNIST digits\n")
    assert re.search(r"^layers\.0 +Dense +23,550\n    x \(batch d_in\) = \(10, 784\) → "
                     r"\(batch d_out\) = \(10, 30\)$", out, re.MULTILINE)
    assert re.search(r"^total +23,860$", out, re.MULTILINE)


def test_cli_trace_mlp_sizes_batch_and_markdown():
    code, out, err = run("trace", "mlp", "--sizes", "784,5,10", "--batch", 3, "--markdown")
    assert code == 0, err
    assert "| `layers.0` | Dense | `x (batch d_in) = (3, 784)` | `(batch d_out) = (3, 5)` " in out
    assert f"| **total** |  |  |  |  | **{784 * 5 + 5 + 5 * 10 + 10:,}** |" in out


def test_cli_trace_mlp_from_a_checkpoint(tmp_path):
    digits_npz = tmp_path / "digits.npz"
    x, y = load_bundled()
    np.savez(digits_npz, x=x[::25], y=y[::25])  # 200 real digits, 20 of each
    checkpoint = tmp_path / "mlp.npz"
    code, _, err = run("train", "mlp", "--data", digits_npz, "--holdout", 50, "--epochs", 1,
                       "--sizes", "784,7,10", "--quiet", "--save", checkpoint)
    assert code == 0, err
    code, out, err = run("trace", "mlp", "--checkpoint", checkpoint, "--batch", 4)
    assert code == 0, err
    assert out.startswith(f"Network [784, 7, 10] ({checkpoint}) on 4 bundled MNIST digits")
    assert "    x (batch d_in) = (4, 784) → (batch d_out) = (4, 7)\n" in out
    code, _, err = run("trace", "mlp", "--checkpoint", checkpoint, "--sizes", "784,7,10")
    assert code == 2 and "--sizes and --checkpoint clash" in err


def test_cli_trace_gpt_tiny():
    code, out, err = run("trace", "gpt", "--preset", "tiny")
    assert code == 0, err
    assert out.startswith("GPT (tiny preset, untrained) on 8 windows of 32 characters")
    assert re.search(r"^blocks\.1\.attn +MultiHeadAttention +0\n    x \(batch seq d_model\) = "
                     r"\(8, 32, 32\)$", out, re.MULTILINE)
    assert re.search(r"^blocks\.0\.ff\.fc +Dense +4,224\n    x \(batch d_in\) = \(256, 32\) → "
                     r"\(batch d_out\) = \(256, 128\) +batch=256 \(= batch·seq\)$", out,
                     re.MULTILINE)
    assert re.search(r"^\(model\) +GPT +0\n    ids \(batch seq\) = \(8, 32\) → ", out,
                     re.MULTILINE)
    assert "    inside: scores, weights, dropped (batch *heads q_seq kv_seq) = (8, 2, 32, 32)\n" \
        in out


@pytest.mark.parametrize("argv", [("trace", "gpt"), ("trace", "translate"),
                                  ("trace", "translate", "--pair", "en-ja")],
                         ids=["gpt", "translate", "translate-en-ja"])
def test_cli_traces_fit_a_terminal_of_100_columns(argv):
    code, out, err = run(*argv)
    assert code == 0, err
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 100, max(lines, key=len)
    assert len(lines) > 60  # the whole model, not a summary


def test_cli_trace_gpt_from_a_checkpoint_reads_its_text(tmp_path):
    from shapesafe_nn.data import load_text
    text_file = tmp_path / "lines.txt"
    text_file.write_text(load_text()[:4000], encoding="utf-8")
    checkpoint = tmp_path / "gpt.npz"
    code, _, err = run("train", "gpt", "--preset", "tiny", "--data", text_file, "--iters", 2,
                       "--warmup", 1, "--eval-interval", 1, "--eval-iters", 1, "--block-size",
                       16, "--quiet", "--save", checkpoint)
    assert code == 0, err
    code, out, err = run("trace", "gpt", "--checkpoint", checkpoint, "--data", text_file)
    assert code == 0, err
    assert re.search(r"^\(model\) +GPT +0\n    ids \(batch seq\) = \(8, 16\) → ", out,
                     re.MULTILINE)
    unseen = tmp_path / "unseen.txt"
    unseen.write_text("~" * 100, encoding="utf-8")  # a character the model never saw
    code, _, err = run("trace", "gpt", "--checkpoint", checkpoint, "--data", unseen)
    assert code == 1 and "'~'" in err and err.count("\n") == 1
