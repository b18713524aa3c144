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
from ..checkpoint import CheckpointError, load_checkpoint, load_parameters, parameter_arrays, \
    save_checkpoint
from ..data import load_bundled, load_idx_dir, load_npz, stratified_split, to_inputs
from ..data.mnist import CLASSES, PIXELS
from ..losses import QuadraticCost, SoftmaxCrossEntropy
from ..models import Network
from ..optim import SGD
from ..shapes import CHECK_MODES, set_checks
from ..trainer import train_classifier
from .arguments import check_output_folders, non_negative_int, positive

DEFAULT_HOLDOUT = 1000
SPLIT_SEED = 0  # the holdout is the same whatever --seed trains the network


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
    train.add_argument("--sizes", type=sizes_argument, default=[784, 30, 10],
                       help="neurons per layer, input first (default 784,30,10)")
    train.add_argument("--epochs", type=positive(int), default=30)
    train.add_argument("--batch-size", type=positive(int), default=10)
    train.add_argument("--lr", type=positive(float), default=3.0, help="learning rate η")
    train.add_argument("--cost", choices=["quadratic", "cross-entropy"], default="quadratic")
    train.add_argument("--activation", choices=["sigmoid", "relu"], default="sigmoid")
    train.add_argument("--init", choices=["nielsen", "scaled"], default="nielsen",
                       help="nielsen: N(0,1) weights (ch. 1); scaled: N(0,1/d_in) (ch. 3)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--holdout", type=non_negative_int, default=DEFAULT_HOLDOUT,
                       help="examples held out for testing (0: train on all)")
    train.add_argument("--data", type=Path, default=None,
                       help="an MNIST IDX directory or an .npz with x and y "
                            "(default: the bundled 5,000 digits)")
    train.add_argument("--save", type=Path, metavar="CKPT.npz", help="write a checkpoint")
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
    check_output_folders(args.save, args.json, args.plot)
    set_checks(args.checks)
    train, test, description = training_data(args.data, args.holdout)
    output = "sigmoid" if args.cost == "quadratic" else "logits"
    model = Network(args.sizes, activation=args.activation, output=output, init=args.init,
                    seed=args.seed)
    cost = QuadraticCost() if args.cost == "quadratic" else SoftmaxCrossEntropy()
    optimizer = SGD(model.parameters(), lr=args.lr)
    print(f"Network {args.sizes}: {args.activation}, {args.cost} cost, init {args.init}, "
          f"η = {args.lr}, batch {args.batch_size}, {args.epochs} epochs, checks {args.checks}")
    print(f"data: {description}")
    x_train, y_train = to_inputs(train[0]), train[1]
    test_pair = (to_inputs(test[0]), test[1]) if test is not None and len(test[0]) else None
    history = train_classifier(model, cost, optimizer, (x_train, y_train), test_pair,
                               epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
                               quiet=args.quiet)
    if test_pair is not None:
        final = {"split": "test", "correct": history.epochs[-1].correct,
                 "total": history.epochs[-1].total}
    else:
        model.eval()
        final = {"split": "train", "correct": model.evaluate(x_train, y_train),
                 "total": len(x_train)}
    final["accuracy"] = final["correct"] / final["total"]
    if args.save:
        config = dict(model.config, cost=args.cost,
                      data=None if args.data is None else str(args.data.resolve()), holdout=args.holdout)
        save_checkpoint(args.save, parameter_arrays(model), {"model": "mlp", "config": config})
        print(f"saved {args.save}")
    if args.plot:
        print(f"wrote {viz.plot_curves(history, args.plot)}")
    if args.json:
        args.json.write_text(json.dumps({"final": final, "history": history.to_json(),
                                         "args": {k: (str(v) if isinstance(v, Path) else v)
                                                  for k, v in vars(args).items()
                                                  if k not in ("run",)}}, indent=2))
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
