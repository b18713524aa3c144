"""A GPT trained from the command line, exported to GGUF, run in llama.cpp itself.

Skipped unless llama.cpp's Python binding is installed.  Installing it
compiles llama.cpp from source, about 15 minutes on 2 cores, so it is not
part of any extra and CI does not run this file.  To run it::

    pip install llama-cpp-python==0.3.36
    python -m pytest tests/interop/test_gguf_llama_cpp.py -v -s

(``-s`` prints the differences measured.)  llama.cpp computes in float32,
but its GELU reads a table of float16 values (ggml's ``GGML_GELU_FP16``):
``f16(gelu(f16(z)))``.  So its logits are compared both with ours and with
ours through that table (``testing/llama_cpp_twin.py``), and one of the two
must agree to float32 rounding.  The keys and values of its attention are kept in float32 here;
by default llama.cpp keeps them in float16, one more rounding.
"""

import numpy as np
import pytest
from cli_runner import run

from shapesafe_nn import no_grad
from shapesafe_nn.interop import import_gguf
from shapesafe_nn.saving import load_gpt

llama_cpp = pytest.importorskip("llama_cpp")
pytest.importorskip("gguf")
from shapesafe_nn.testing.llama_cpp_twin import HalfTableGELU  # noqa: E402

PROMPT = "ROMEO:"
FLOAT32 = 0  # ggml's number for the float32 type (GGML_TYPE_F32): the cache's keys and values
# a 2-layer float32 model of width 32 rounds its logits (about 2 in size) to 1e-6; the
# GELU table moves them by about 6e-5 (measured on this run with our own twin)
ROUNDING = 2e-5
TABLE_EFFECT = 1e-3  # at most this far from ours: 20 times what the table was measured to move


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The tiny preset trained 100 iterations, and its GGUF exports (f32, f16)."""
    folder = tmp_path_factory.mktemp("llama_cpp")
    result = run("train", "gpt", "--preset", "tiny", "--iters", "100", "--checks", "off",
                 "--save", folder / "tiny.npz", "--quiet")
    assert result.code == 0, result.err
    for name, flags in (("tiny.gguf", ()), ("tiny-f16.gguf", ("--f16",))):
        result = run("export", "--checkpoint", folder / "tiny.npz", "--format", "gguf",
                     "--out", folder / name, *flags)
        assert result.code == 0, result.err
    return folder


def llama(path, block_size: int):
    # logits_all: since 0.3 the binding writes a position's logits into .scores only then
    return llama_cpp.Llama(model_path=str(path), n_ctx=block_size, n_batch=block_size,
                           n_threads=2, type_k=FLOAT32, type_v=FLOAT32, logits_all=True,
                           verbose=False)


def last_logits(model, ids) -> np.ndarray:
    model.eval()
    with no_grad():
        return model.forward(np.asarray(ids)[None])[0, -1]


def test_llama_cpp_reads_the_prompt_as_our_ids_and_gives_our_next_token_logits(trained):
    model, tokenizer = load_gpt(trained / "tiny.npz")
    engine = llama(trained / "tiny.gguf", model.config.block_size)
    ids = engine.tokenize(PROMPT.encode("utf-8"), add_bos=False)
    assert ids == tokenizer.encode(PROMPT).tolist()
    engine.eval(ids)
    theirs = np.array(engine.scores[engine.n_tokens - 1], dtype=np.float32)
    ours = last_logits(model, ids)
    for block in model.blocks:
        block.ff.gelu = HalfTableGELU()
    tabled = last_logits(model, ids)
    to_ours, to_table = np.abs(theirs - ours).max(), np.abs(theirs - tabled).max()
    print(f"\nllama.cpp's logits for {PROMPT!r}: {to_ours:.2e} from ours, {to_table:.2e} from "
          f"ours with ggml's float16 GELU table")
    assert theirs.argmax() == ours.argmax()
    top = np.argsort(-ours)
    fifth_gap = ours[top[4]] - ours[top[5]]  # the top five are llama.cpp's too, unless a tie
    assert set(np.argsort(-theirs)[:5]) == set(top[:5]) or fifth_gap < 2 * to_ours
    assert to_ours <= TABLE_EFFECT
    assert min(to_ours, to_table) <= ROUNDING  # one GELU explains all but rounding


def test_the_f16_file_gives_the_same_top_token(trained):
    model, tokenizer = load_gpt(trained / "tiny.npz")
    rounded, _ = import_gguf(trained / "tiny-f16.gguf")  # our model with the file's weights
    engine = llama(trained / "tiny-f16.gguf", model.config.block_size)
    ids = tokenizer.encode(PROMPT).tolist()
    engine.eval(ids)
    theirs = np.array(engine.scores[engine.n_tokens - 1], dtype=np.float32)
    ours, same_weights = last_logits(model, ids), last_logits(rounded, ids)
    print(f"\nthe f16 file in llama.cpp: {np.abs(theirs - ours).max():.2e} from ours, "
          f"{np.abs(theirs - same_weights).max():.2e} from ours with its float16 weights")
    assert theirs.argmax() == ours.argmax()
    # llama.cpp also rounds each activation to float16 before a float16 weight meets it
    assert np.abs(theirs - same_weights).max() <= 1e-2


def test_llama_cpp_generates_what_our_logits_choose(trained):
    model, tokenizer = load_gpt(trained / "tiny.npz")
    engine = llama(trained / "tiny.gguf", model.config.block_size)
    # greedy, with no repetition penalty: each token the largest logit; 6 + 20 <= block 32
    text = engine.create_completion(PROMPT, max_tokens=20, temperature=0.0,
                                    repeat_penalty=1.0)["choices"][0]["text"]
    print(f"\nllama.cpp continues {PROMPT!r} with {text!r}")
    generated = tokenizer.encode(text).tolist()
    assert generated  # token 11, llama.cpp's default end of text, could stop it early
    ids = tokenizer.encode(PROMPT).tolist()
    for token in generated:
        logits = last_logits(model, ids)
        assert logits[token] >= logits.max() - 2 * TABLE_EFFECT  # ours, up to a near tie
        ids.append(token)
