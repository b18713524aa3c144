"""Sampling from the trained baby GPT: ours, with and without the key/value cache, vs PyTorch.

Run:  python benchmarks/sample_reference.py [--rounds 5] [--tokens 300]
(needs the `reference` extra for PyTorch: pip install -e ".[reference]")
Smoke run:  python benchmarks/sample_reference.py --rounds 1 --tokens 10

Opens ``docs/assets/baby_gpt.npz`` with ``load_gpt``, copies its weights
into ``TorchGPT`` (shapesafe_nn/testing/torch_gpt.py, the same model in
eager PyTorch), and samples ``--tokens`` characters after a line break
(seed 0, temperature 1), six ways taking turns in every round:

- ours, ``GPT.generate`` with its key/value cache (the default), under
  checks ``always`` (what ``shapesafe-nn sample`` runs) and ``off``;
- ours with ``use_cache=False``: the whole window every step, both modes;
- PyTorch as nanoGPT's ``generate`` does it: crop to block_size, run the
  whole window every step (nanoGPT keeps no cache);
- PyTorch with a key/value cache written below, by the same rule as ours:
  the newest token alone while the text fits in block_size, the whole
  window once it slides (learned positions move, so every key changes).

Every way draws each token with its own numpy generator (seeded alike)
from the float64 softmax of its float32 logits, as ``GPT.generate`` does,
so all of them write the same text, up to float32 rounding of the two
libraries, and do the same work.  The script prints how many tokens of each
agree with ours, the median time of each way and the ratios, all measured
in this one process.
"""

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import record
from machine import describe, load_now
from shapesafe_nn import checks
from shapesafe_nn.saving import load_gpt
from shapesafe_nn.testing.torch_gpt import TorchGPT

ROOT = Path(__file__).resolve().parent.parent
CHECKPOINT = "docs/assets/baby_gpt.npz"  # from the repository's root
PROMPT, SEED = "\n", 0


def draw(logits: np.ndarray, rng: np.random.Generator) -> int:
    """One token from softmax(logits), computed as GPT.generate computes it at
    temperature 1 without top_k, so the same logits draw the same token."""
    logits = logits.astype(np.float64)
    logits -= logits.max()
    p = np.exp(logits)
    return rng.choice(len(p), p=p / p.sum())


def torch_cached_logits(twin: TorchGPT, ids: torch.Tensor, cache: list) -> torch.Tensor:
    """TorchGPT's forward with a key/value cache, the way ours has one: ``ids``
    (batch, seq) are the tokens after the ``cache``'s; an empty list starts
    one.  The cache holds one [keys, values] pair per block, each (batch,
    n_heads, seq_so_far, d_head), grown with torch.cat."""
    start = cache[0][0].shape[2] if cache else 0
    fresh = not cache
    batch, seq = ids.shape
    x = twin.wte(ids) + twin.wpe.weight[start:start + seq]
    for index, block in enumerate(twin.blocks):
        attn = block.attn
        h = block.ln1(x)
        d_model = h.shape[-1]
        q, k, v = (part.view(batch, seq, attn.n_head, d_model // attn.n_head).transpose(1, 2)
                   for part in attn.c_attn(h).split(d_model, dim=-1))
        if fresh:
            cache.append([k, v])
        else:
            cache[index] = [torch.cat([cache[index][0], k], dim=2),
                            torch.cat([cache[index][1], v], dim=2)]
            k, v = cache[index]
        # a fresh window is causal; one new query may read every key so far (torch's
        # is_causal aligns its mask top-left, which would hide all but the first key)
        heads = F.scaled_dot_product_attention(q, k, v, is_causal=fresh)
        x = x + attn.c_proj(heads.transpose(1, 2).reshape(batch, seq, d_model))
        x = x + block.ff(block.ln2(x))
    return twin.ln_f(x) @ twin.wte.weight.T


@torch.no_grad()
def torch_generate(twin: TorchGPT, prompt: np.ndarray, tokens: int, use_cache: bool):
    """``tokens`` new ids after ``prompt``, read from the twin's logits."""
    block_size = twin.config.block_size
    rng = np.random.default_rng(SEED)
    ids = prompt.astype(np.int64)
    cache = None
    for _ in range(tokens):
        window = torch.from_numpy(ids[-block_size:][None, :])
        if not use_cache:  # nanoGPT's generate: the whole cropped window
            logits = twin(window)[0, -1]
        elif cache is None or len(ids) > block_size:  # first step, or the window slid
            cache = []
            logits = torch_cached_logits(twin, window, cache)[0, -1]
        else:
            logits = torch_cached_logits(twin, window[:, -1:], cache)[0, -1]
        ids = np.append(ids, draw(logits.numpy(), rng))
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds, the ways taking turns")
    parser.add_argument("--tokens", type=int, default=300, help="tokens sampled per way")
    record.add_results_argument(parser)
    args = parser.parse_args()
    if args.rounds < 1 or args.tokens < 1:
        parser.error("--rounds and --tokens must be positive")
    recording = record.start(args.results, "sample_reference")

    model, tokenizer = load_gpt(ROOT / CHECKPOINT)
    config = model.config
    twin = TorchGPT(config).copy_weights_from(model)
    twin.eval()
    prompt = tokenizer.encode(PROMPT)

    def ours(mode: str, use_cache: bool):
        def run():
            with checks(mode):
                return model.generate(prompt, args.tokens, seed=SEED, use_cache=use_cache)
        return run

    ways = {
        "ours, cache, checks always": ours("always", True),
        "ours, cache, checks off": ours("off", True),
        "ours, no cache, checks always": ours("always", False),
        "ours, no cache, checks off": ours("off", False),
        "PyTorch, no cache (nanoGPT's)": lambda: torch_generate(twin, prompt, args.tokens, False),
        "PyTorch, cache": lambda: torch_generate(twin, prompt, args.tokens, True),
    }
    print(describe())
    print(f"baby GPT from {CHECKPOINT}: "
          f"vocab {config.vocab_size}, block {config.block_size}, {config.n_layer} layers, "
          f"{config.n_head} heads, d_model {config.d_model}, {config.dtype}; "
          f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{args.tokens} tokens after {PROMPT!r}, seed {SEED}, temperature 1; median of "
          f"{args.rounds} rounds, the {len(ways)} ways taking turns")

    seconds = {name: [] for name in ways}
    samples = {}
    for run in ways.values():  # untimed: the first calls build kernels and caches
        run()
    for _ in range(args.rounds):
        for name, run in ways.items():
            start = time.perf_counter()
            samples[name] = run()
            seconds[name].append(time.perf_counter() - start)

    reference = samples["ours, cache, checks always"]
    median = {name: statistics.median(times) for name, times in seconds.items()}
    print(f"  {'way':<32} {'s/sample':>9} {'ms/token':>9}   tokens equal to ours")
    for name in ways:
        same = int((samples[name] == reference).sum()) - len(prompt)
        print(f"  {name:<32} {median[name]:9.3f} {1000 * median[name] / args.tokens:9.2f}"
              f"   {same}/{args.tokens}")
    torch_plain, torch_cached = median["PyTorch, no cache (nanoGPT's)"], median["PyTorch, cache"]
    print("ratios of medians, all from this process:")
    for name in ("ours, cache, checks always", "ours, cache, checks off"):
        print(f"  {name + ' / PyTorch, no cache:':<50} {median[name] / torch_plain:5.2f}")
        print(f"  {name + ' / PyTorch, cache:':<50} {median[name] / torch_cached:5.2f}")
    for mode in ("always", "off"):
        cached, plain = (median[f"ours, {way}, checks {mode}"] for way in ("cache", "no cache"))
        print(f"  {f'ours, checks {mode}: cache / no cache:':<50} {cached / plain:5.2f}")
    print(f"  {'PyTorch: cache / no cache:':<50} {torch_cached / torch_plain:5.2f}")
    print(f"after the runs, {load_now()}")
    print(f"the first 60 characters of ours: {tokenizer.decode(reference[:60])!r}")
    recording.save({
        "ms_per_token": {name: 1000 * median[name] / args.tokens for name in ways},
        "over_pytorch_no_cache": {mode: median[f"ours, cache, checks {mode}"] / torch_plain
                                  for mode in ("always", "off")},
        "over_pytorch_cache": {mode: median[f"ours, cache, checks {mode}"] / torch_cached
                               for mode in ("always", "off")},
    })


if __name__ == "__main__":
    main()
