"""``shapesafe-nn train mlp`` and ``shapesafe-nn eval mlp``: Nielsen's network on MNIST.

The defaults are the book's chapter-1 run: ``Network([784, 30, 10])``,
sigmoid neurons, the quadratic cost, η = 3.0, mini-batches of 10, 30 epochs.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from .. import viz
from ..checkpoint import CheckpointError, load_checkpoint, load_parameters
from ..data import load_bundled, load_idx_dir, load_npz, stratified_split, to_inputs
from ..data.mnist import CLASSES, PIXELS
from ..losses import QuadraticCost, SoftmaxCrossEntropy
from ..models import Network
from ..optim import SGD
from ..resume import ClassifierProgress, fingerprint
from ..shapes import CHECK_MODES, set_checks
from ..trainer import EpochRecord, train_classifier
from .arguments import check_output_folders, non_negative_int, positive
from .runs import CheckpointWriter, add_run_arguments, restore_run, run_to_resume, \
    settings_for, telling_what_was_saved

DEFAULT_HOLDOUT = 1000
SPLIT_SEED = 0  # the holdout is the same whatever --seed trains the network
# The book's chapter-1 run; each flag given replaces one of these.
BOOK = dict(sizes=[784, 30, 10], epochs=30, batch_size=10, lr=3.0, cost="quadratic",
            activation="sigmoid", init="nielsen", seed=0, holdout=DEFAULT_HOLDOUT)


def sizes_argument(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as "
                                         f"784,30,10, not {text!r}") from None
    if len(sizes) < 2 or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"need at least two positive sizes, not {text!r}")
    if sizes[0] != PIXELS or sizes[-1] != CLASSES:  # every loader gives 784 pixels, 10 digits
        raise argparse.ArgumentTypeError(f"MNIST has {PIXELS} pixels and {CLASSES} digits, so "
                                         f"the sizes must start with {PIXELS} and end with "
                                         f"{CLASSES}, not {text!r}")
    return sizes


def add_commands(train_models, eval_models) -> None:
    train = train_models.add_parser(
        "mlp", help="Nielsen's network on MNIST",
        description="Train Nielsen's chapter-1 network on MNIST (defaults: the book's run).")
    train.add_argument("--sizes", type=sizes_argument,
                       help="neurons per layer, input first (default 784,30,10)")
    train.add_argument("--epochs", type=positive(int), help="default 30")
    train.add_argument("--batch-size", type=positive(int), help="default 10")
    train.add_argument("--lr", type=positive(float), help="learning rate η (default 3.0)")
    train.add_argument("--cost", choices=["quadratic", "cross-entropy"],
                       help="default quadratic")
    train.add_argument("--activation", choices=["sigmoid", "relu"], help="default sigmoid")
    train.add_argument("--init", choices=["nielsen", "scaled"],
                       help="nielsen: N(0,1) weights (ch. 1, the default); "
                            "scaled: N(0,1/d_in) (ch. 3)")
    train.add_argument("--seed", type=int, help="default 0")
    train.add_argument("--holdout", type=non_negative_int,
                       help=f"examples held out for testing (default {DEFAULT_HOLDOUT}; "
                            f"0: train on all)")
    train.add_argument("--data", type=Path, default=None,
                       help="an MNIST IDX directory or an .npz with x and y "
                            "(default: the bundled 5,000 digits)")
    add_run_arguments(train)
    train.add_argument("--json", type=Path, metavar="METRICS.json",
                       help="write the final metrics and the history")
    train.add_argument("--plot", type=Path, metavar="CURVES.png",
                       help="draw the cost and accuracy curves (needs matplotlib)")
    train.add_argument("--checks", choices=CHECK_MODES, default="always",
                       help="shape checks: always (default), first, off")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(run=run_train)

    evaluate = eval_models.add_parser(
        "mlp", help="evaluate a saved MLP",
        description="Evaluate a saved MLP. Without --data, on the holdout it was trained "
                    "without; an IDX directory is read as its t10k pair.")
    evaluate.add_argument("--checkpoint", type=Path, required=True, metavar="CKPT.npz")
    evaluate.add_argument("--data", type=Path, default=None)
    evaluate.add_argument("--checks", choices=CHECK_MODES, default="always")
    evaluate.set_defaults(run=run_eval)


def training_data(path: Path | None, holdout: int):
    """``(train, test, description)``, each part ``(x uint8 (n, 784), labels (n,))``."""
    if path is not None and path.is_dir():
        train = load_idx_dir(path, "train")
        if any(path.glob("t10k-*")):  # MNIST's test pair; without it, hold out from train
            test = load_idx_dir(path, "test")  # a damaged or half t10k pair is an error
            return train, test, f"{path}: {len(train[0]):,} train / {len(test[0]):,} t10k test"
        x, y = train
        source = str(path)
    elif path is not None:
        x, y = load_npz(path)
        source = str(path)
    else:
        x, y = load_bundled()
        source = "bundled MNIST subset"
    x_train, y_train, x_test, y_test = stratified_split(x, y, holdout, seed=SPLIT_SEED)
    return ((x_train, y_train), (x_test, y_test),
            f"{source}: {len(x_train):,} train / {len(x_test):,} held out")


def run_train(args) -> int:
    if args.plot and not viz.matplotlib_available():  # say so now, not after training
        print(f"shapesafe-nn: error: {viz.MISSING}", file=sys.stderr)
        return 1
    arrays, meta = run_to_resume(args, "mlp", BOOK, EpochRecord, {})
    settings = settings_for(args, BOOK, None if meta is None else meta["settings"], args.resume)
    check_output_folders(args.save, args.json, args.plot)
    set_checks(args.checks)
    data = args.data
    if data is None and meta is not None and meta["data"] is not None:
        data = Path(meta["data"])  # where the saved run read its digits
    train, test, description = training_data(data, settings["holdout"])
    output = "sigmoid" if settings["cost"] == "quadratic" else "logits"
    model = Network(settings["sizes"], activation=settings["activation"], output=output,
                    init=settings["init"], seed=settings["seed"])
    cost = QuadraticCost() if settings["cost"] == "quadratic" else SoftmaxCrossEntropy()
    optimizer = SGD(model.parameters(), lr=settings["lr"])
    x_train, y_train = to_inputs(train[0]), train[1]
    data_sha256 = fingerprint(x_train, y_train)
    if args.resume:
        progress = restore_run(args.resume, arrays, meta, model, optimizer, data_sha256,
                               ClassifierProgress, settings["epochs"], "epochs",
                               meta["data"] or "the bundled subset")
    else:
        progress = ClassifierProgress.start(settings["seed"])
    print(f"Network {settings['sizes']}: {settings['activation']}, {settings['cost']} cost, "
          f"init {settings['init']}, η = {settings['lr']}, batch {settings['batch_size']}, "
          f"{settings['epochs']} epochs, checks {args.checks}")
    print(f"data: {description}")
    if args.resume:
        print(f"resuming {args.resume} at step {progress.step} (epoch {progress.epoch}, "
              f"mini-batch {progress.batch})")
    test_pair = (to_inputs(test[0]), test[1]) if test is not None and len(test[0]) else None
    config = dict(model.config, cost=settings["cost"],
                  data=None if data is None else str(data.resolve()), holdout=settings["holdout"])
    writer = None if args.save is None else CheckpointWriter(
        args.save, model, optimizer,
        {"model": "mlp", "config": config, "settings": settings, "data": config["data"],
         "data_sha256": data_sha256},
        weights_only=args.weights_only)
    with telling_what_was_saved(writer):
        history = train_classifier(model, cost, optimizer, (x_train, y_train), test_pair,
                                   epochs=settings["epochs"], batch_size=settings["batch_size"],
                                   seed=settings["seed"], quiet=args.quiet, progress=progress,
                                   save_every=args.save_every or 0, save=writer)
        if writer is not None:  # the finished run, before anything else can stop it
            writer(progress)
    if test_pair is not None:
        final = {"split": "test", "correct": history.epochs[-1].correct,
                 "total": history.epochs[-1].total}
    else:
        model.eval()
        final = {"split": "train", "correct": model.evaluate(x_train, y_train),
                 "total": len(x_train)}
    final["accuracy"] = final["correct"] / final["total"]
    if writer is not None:
        print(f"saved {args.save}")
    if args.plot:
        print(f"wrote {viz.plot_curves(history, args.plot)}")
    if args.json:
        args.json.write_text(json.dumps({"final": final, "history": history.to_json(),
                                         "settings": settings}, indent=2))
    print(f"{final['split']} accuracy {final['accuracy']:.4f} ({final['correct']}/{final['total']})")
    return 0


def load_network(path: Path) -> tuple[Network, dict]:
    arrays, meta = load_checkpoint(path)
    if meta.get("model") != "mlp":
        raise CheckpointError(f"{path}: holds a {meta.get('model')!r} model, not an mlp")
    config = meta["config"]
    model = Network(config["sizes"], activation=config["activation"], output=config["output"],
                    init=config["init"], seed=config["seed"], dtype=np.dtype(config["dtype"]))
    load_parameters(model, arrays, source=str(path))
    return model, config


def run_eval(args) -> int:
    set_checks(args.checks)
    model, config = load_network(args.checkpoint)
    if args.data is None:  # the data it was trained on: its held-out part
        trained_on = None if config["data"] is None else Path(config["data"])
        _, (x, y), _ = training_data(trained_on, config["holdout"])
        description = f"the {len(x):,} examples held out from {trained_on or 'the bundled subset'}"
    elif args.data.is_dir():
        x, y = load_idx_dir(args.data, "test")
        description = f"{args.data} (t10k)"
    else:
        x, y = load_npz(args.data)
        description = str(args.data)
    if len(x) == 0:
        raise CheckpointError(f"{args.checkpoint} was trained on all the data: "
                              f"pass --data to evaluate it")
    model.eval()
    correct = model.evaluate(to_inputs(x), y)
    print(f"evaluating {args.checkpoint} on {description}")
    print(f"test accuracy {correct / len(x):.4f} ({correct}/{len(x)})")
    return 0
