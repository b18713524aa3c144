"""Training a translator, and reading its translations: text in, text out.

:func:`train_translator` is the loop of ``shapesafe-nn train translate``.
Each step, with teacher forcing (see :mod:`shapesafe_nn.data.pair_batches`)::

    src_ids, src_mask, tgt_in, tgt_out, tgt_mask = a batch of pairs of about one length
    optimizer.lr = schedule(step)
    optimizer.zero_grad()
    logits = model.forward(src_ids, tgt_in, src_mask, tgt_mask)   (batch, tgt_seq, vocab)
    cost.forward(logits, tgt_out)             # label-smoothed, PAD ignored
    model.backward(cost.backward())
    clip_grad_norm(parameters, grad_clip)
    optimizer.step()

Every ``eval_interval`` steps (and after the last) it measures the plain
cross-entropy per target token, without dropout or smoothing, on the whole
held-out set and on as many training pairs drawn at random; the BLEU of a
greedy translation of a fixed sample of held-out pairs (``bleu_pairs``); and
prints a few held-out sentences as the model translates them now.

A batch is ``batch_size`` pairs of about one length
(:class:`~shapesafe_nn.data.pair_batches.LengthBuckets`), or, with
``batch_tokens``, as many as fit that many tokens a side
(:class:`~shapesafe_nn.data.pair_batches.TokenBudget`).

:func:`translate` turns sentences into translations (greedy or beam search),
and :func:`exact_match` scores a model on pairs: the share of sentences it
translates exactly right.
"""

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
from tqdm import tqdm

from ..data.pair_batches import EncodedPairs, batches_for
from ..losses import LabelSmoothedCrossEntropy
from ..models.decoding import beam_search, greedy_decode, inference, length_limits
from ..models.translator import Translator
from ..tokenizers.protocol import Tokenizer
from ..tokenizers.words import pad_batch
from ..core.validate import non_negative_int, positive_int
from .progress import LanguageModelProgress
from .scores import corpus_scores
from .signals import StopOnSignal
from .trainer import (QUIET_OVERFLOW, EvalRecord, after_step, backward_and_update,
                      progress_enabled, stop_if_asked, write_line)

EVAL_BATCH = 250  # sentences per forward when evaluating: no gradients, so memory is small


@dataclass
class Example:
    """A held-out sentence printed as the run goes, with what it should become."""

    source: str
    target: str


def held_out_loss(model: Translator, pairs: EncodedPairs, indices=None) -> float:
    """Cross-entropy per target token (EOS included, PAD not), in eval mode, no
    smoothing: the number a val loss means.  Batches follow length order."""
    cost = LabelSmoothedCrossEntropy(0.0, ignore_index=pairs.pad_id)
    indices = np.arange(len(pairs)) if indices is None else np.asarray(indices)
    indices = indices[np.argsort([len(pairs.targets[i]) for i in indices], kind="stable")]
    total, tokens = 0.0, 0
    with inference(model):
        for start in range(0, len(indices), EVAL_BATCH):
            src, src_mask, tgt_in, tgt_out, tgt_mask = pairs.batch(indices[start:start
                                                                           + EVAL_BATCH])
            count = int((tgt_out != pairs.pad_id).sum())
            total += cost.forward(model.forward(src, tgt_in, src_mask, tgt_mask),
                                  tgt_out) * count
            tokens += count
    return total / tokens


def translate(model: Translator, source: Tokenizer, target: Tokenizer,
              sentences: list[str], beam_size: int = 1, length_penalty: float = 0.6,
              batch_size: int = EVAL_BATCH) -> list[str]:
    """The translation of each sentence: greedy for ``beam_size`` 1, else beam search.

    A sentence that is empty, holds a token the source vocabulary lacks, or
    is longer than the model's ``max_len`` is a ValueError saying so.
    Sentences are batched in length order, and the answers put back in the
    order given; a batch stops when each of its sentences has written EOS.
    With one vocabulary for both sides (``share_embeddings``), each
    translation is at most 1.5 × its source + 10 pieces long
    (:func:`~shapesafe_nn.models.decoding.length_limits`); otherwise source
    and target tokens are not the same unit, and the bound is ``max_len``.
    """
    max_len = model.config.max_len
    encoded = []
    for number, sentence in enumerate(sentences, start=1):
        if not sentence.strip():
            raise ValueError(f"translate: a sentence is empty (sentence {number}); there is "
                             f"nothing to translate")
        ids = source.encode(sentence)
        if len(ids) > max_len:
            raise ValueError(f"translate: {sentence[:40]!r} is {len(ids)} tokens long, but "
                             f"the model reads at most max_len = {max_len} (sentence {number})")
        encoded.append(ids)
    order = np.argsort([len(ids) for ids in encoded], kind="stable")
    answers = [""] * len(sentences)
    for start in range(0, len(order), batch_size):
        chosen = order[start:start + batch_size]
        src_ids, src_mask = pad_batch([encoded[i] for i in chosen], source.specials.pad)
        limits = (length_limits(src_mask, max_len) if model.config.share_embeddings
                  else None)
        if beam_size == 1:
            out = greedy_decode(model, src_ids, src_mask, limits, specials=target.specials)
        else:
            out = beam_search(model, src_ids, src_mask, beam_size, length_penalty, limits,
                              specials=target.specials)
        for i, ids in zip(chosen, out):
            answers[i] = target.decode(ids)
    return answers


def count_unknown(tokenizer: Tokenizer, sentences: list[str]) -> int:
    """How many tokens of ``sentences`` are the tokenizer's UNK: characters its
    vocabulary cannot write (0 for a tokenizer without UNK, which refuses them)."""
    unk = tokenizer.specials.unk
    if unk is None:
        return 0
    return sum(int(np.count_nonzero(tokenizer.encode(sentence) == unk))
               for sentence in sentences)


def sample_bleu(model: Translator, source: Tokenizer, target: Tokenizer,
                pairs: list[tuple[str, str]], language: str | None = None) -> str:
    """A line: the BLEU and chrF of greedy translations of ``pairs``, BLEU's
    words cut as the targets' ``language`` writes them (None: as their
    script says; :func:`~shapesafe_nn.training.scores.bleu_tokenizer`)."""
    predictions = translate(model, source, target, [src for src, _ in pairs])
    scores = corpus_scores(predictions, [tgt for _, tgt in pairs], language)
    if scores is None:
        return "BLEU needs sacrebleu: pip install 'shapesafe_nn[translate]'"
    return (f"BLEU {scores.bleu:.2f}, chrF {scores.chrf:.2f} on {len(pairs):,} held-out "
            f"pairs (greedy; {scores.bleu_signature})")


def exact_match(predictions: list[str], references: list[str]) -> float:
    """The share of predictions equal to their reference, character for character."""
    if len(predictions) != len(references) or not references:
        raise ValueError(f"exact_match: {len(predictions)} predictions for "
                         f"{len(references)} references; they must pair up, at least one")
    return sum(p == r for p, r in zip(predictions, references)) / len(references)


def train_translator(model: Translator, optimizer, train: EncodedPairs, val: EncodedPairs, *,
                     steps: int, batch_size: int, schedule: Callable[[int], float],
                     smoothing: float, grad_clip: float, eval_interval: int,
                     examples: list[Example], source: Tokenizer, target: Tokenizer,
                     seed: int, batch_tokens: int = 0,
                     bleu_pairs: list[tuple[str, str]] = (), bleu_language: str | None = None,
                     quiet: bool = False,
                     log: Callable[[str], None] = write_line,
                     progress: LanguageModelProgress | None = None, save_every: int = 0,
                     save: Callable[[LanguageModelProgress], None] | None = None,
                     ) -> list[EvalRecord]:
    """Train ``model`` for ``steps`` steps on ``train``; see the module's docstring.

    ``schedule(step)`` gives each step's learning rate.  ``examples`` are
    translated and printed at each evaluation (with ``source`` and
    ``target``, the tokenizers), and ``bleu_pairs`` translated greedily and
    scored by BLEU (none: no BLEU), its words cut as the targets'
    ``bleu_language`` writes them (None: as their script says).
    ``batch_tokens`` above 0 fills each batch by that token budget instead of
    ``batch_size`` pairs.  ``progress``, ``save_every`` and ``save`` resume
    and checkpoint the run as in
    :func:`~shapesafe_nn.training.trainer.train_language_model`: the batch
    generator and the evaluation generator (which training pairs are
    measured) are the progress's two.
    """
    for name, value in (("steps", steps), ("batch_size", batch_size),
                        ("eval_interval", eval_interval)):
        positive_int("train_translator", name, value)
    non_negative_int("train_translator", "batch_tokens", batch_tokens)
    cost = LabelSmoothedCrossEntropy(smoothing, ignore_index=train.pad_id)
    buckets = batches_for(train, batch_size, batch_tokens)
    progress = progress or LanguageModelProgress.start(seed)
    model.train()

    def evaluate(step: int, lr: float) -> None:
        sample = progress.eval_rng.choice(len(train), size=min(len(val), len(train)),
                                          replace=False)
        record = EvalRecord(step, held_out_loss(model, train, sample), held_out_loss(model, val),
                            lr)
        progress.history.append(asdict(record))
        log(f"step {step:5d}: train loss {record.train_loss:.4f}, val loss {record.val_loss:.4f}"
            f"  (lr {lr:.2e})")
        if bleu_pairs:
            log("    " + sample_bleu(model, source, target, bleu_pairs, bleu_language))
        answers = translate(model, source, target, [example.source for example in examples])
        for example, answer in zip(examples, answers):
            mark = "ok" if answer == example.target else f"want {example.target!r}"
            log(f"    {example.source!r} -> {answer!r}  {mark}")

    with StopOnSignal() as stop, np.errstate(**QUIET_OVERFLOW):
        for step in tqdm(range(progress.step, steps), unit="step", leave=False,
                         initial=progress.step, total=steps,
                         disable=not progress_enabled(quiet)):
            lr = schedule(step)
            if step % eval_interval == 0:
                evaluate(step, lr)
            optimizer.lr = lr
            src, src_mask, tgt_in, tgt_out, tgt_mask = train.batch(
                buckets.draw(progress.batch_rng))
            optimizer.zero_grad()
            loss = cost.forward(model.forward(src, tgt_in, src_mask, tgt_mask), tgt_out)
            backward_and_update(model, cost, optimizer, loss, grad_clip, progress, step)
            after_step(progress, save, save_every, stop)
        evaluate(steps, schedule(steps))
        stop_if_asked(progress, save, stop)  # a Ctrl-C during the last evaluation
    return [EvalRecord(**record) for record in progress.history]
