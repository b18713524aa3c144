"""The first steps of docs/10-outgrow-one-cpu.md, on the CPU: export, load in
PyTorch, train 20 steps, and import the result back unchanged."""

import numpy as np
import pytest

from shapesafe_nn.data import load_text, split_train_val
from shapesafe_nn.interop import export_nanogpt, import_nanogpt
from shapesafe_nn.models import GPT, GPTConfig
from shapesafe_nn.tokenizers import CharTokenizer

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.reference
from shapesafe_nn.testing.nanogpt_twin import NanoGPTTwin  # noqa: E402  (needs torch)

STEPS, BATCH = 20, 8


@pytest.fixture
def one_thread():
    """A model this small trains faster on one thread than on two that take turns."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_export_train_twenty_steps_in_pytorch_and_import_back(tmp_path, one_thread):
    text = load_text(None)[:200_000]
    tokenizer = CharTokenizer.from_text(text)
    train_ids, _ = split_train_val(tokenizer.encode(text))
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, block_size=32, n_layer=2, n_head=2,
                          d_model=32, gelu="erf"))
    path = export_nanogpt(model, tokenizer, tmp_path / "out")

    # what nanoGPT's train.py does with it, in a few lines
    checkpoint = torch.load(path, weights_only=True)
    twin = NanoGPTTwin(**checkpoint["model_args"])
    twin.load_state_dict(checkpoint["model"], strict=True)
    optimizer = twin.adamw(lr=3e-3, weight_decay=0.1, betas=(0.9, 0.99))
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(STEPS):
        starts = rng.integers(0, len(train_ids) - 33, size=BATCH)
        windows = torch.from_numpy(np.stack([train_ids[s:s + 33] for s in starts]))
        logits = twin(windows[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), windows[:, 1:].flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    # from ln(vocab) = 4.3 at the start; 20 steps at this lr take it below 3.6
    assert losses[0] > 4.0 and np.mean(losses[-5:]) < losses[0] - 0.5, losses

    checkpoint["model"] = twin.state_dict()  # as train.py saves it
    torch.save(checkpoint, path)
    back, back_tokenizer = import_nanogpt(tmp_path / "out")
    assert back_tokenizer == tokenizer
    ours = dict(back.named_parameters())
    theirs = dict(twin.named_parameters())
    np.testing.assert_array_equal(ours["token_embedding.W"].value,
                                  theirs["transformer.wte.weight"].detach().numpy())
    np.testing.assert_array_equal(ours["blocks.1.attn.qkv.W"].value,  # (d_out, d_in) both
                                  theirs["transformer.h.1.attn.c_attn.weight"].detach().numpy())
    np.testing.assert_array_equal(ours["blocks.0.ff.proj.b"].value,
                                  theirs["transformer.h.0.mlp.c_proj.bias"].detach().numpy())
    assert sum(p.value.size for p in ours.values()) == sum(p.numel() for p in theirs.values())
