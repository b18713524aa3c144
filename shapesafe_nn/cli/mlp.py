"""``shapesafe-nn train mlp`` and ``shapesafe-nn eval mlp``: Nielsen's network on MNIST.

The defaults are the book's chapter-1 run: ``Network([784, 30, 10])``,
sigmoid neurons, the quadratic cost, η = 3.0, mini-batches of 10, 30 epochs.
"""

import argparse
from pathlib import Path

from ..data import load_bundled, load_idx_dir, load_npz, stratified_split, to_inputs
from ..data.mnist import CLASSES, PIXELS
from ..losses import QuadraticCost, SoftmaxCrossEntropy
from ..models import Network
from ..models.mlp import NetworkConfig
from ..optim import SGD
from ..saving.checkpoint import CheckpointError, config_from, load_checkpoint, load_parameters
from ..training.progress import ClassifierProgress, fingerprint
from ..training.trainer import EpochRecord, train_classifier
from .arguments import non_negative_int, positive, within_int64
from .config_flags import add_config_flags, check_config, config_defaults, config_of
from .memory import network_needs
from .runs import Built, Training, add_checks_argument, add_run_arguments, run_log, \
    run_training, use_checks
from .threads import add_threads_argument, use_threads

DEFAULT_HOLDOUT = 1000
SPLIT_SEED = 0  # the holdout is the same whatever --seed trains the network
COSTS = {"quadratic": "sigmoid", "cross-entropy": "logits"}  # --cost -> the network's output
# The model's flags are NetworkConfig's fields (config_flags.py), but two that
# follow from others: its output, from --cost (a sigmoid for the quadratic cost,
# logits for SoftmaxCrossEntropy), and its dtype, the book's float64 in which
# every command reads the digits (data.mnist.to_inputs)
NOT_FLAGS = ("output", "dtype")
# The book's chapter-1 run (the network's defaults are the book's); each flag
# given replaces one of these.  A run's length is its epochs, passes over the
# training digits, as in the book: not steps (see runs.STEPS_ALIASES).
BOOK = (config_defaults(NetworkConfig, NOT_FLAGS)
        | dict(epochs=30, batch_size=10, lr=3.0, cost="quadratic", holdout=DEFAULT_HOLDOUT))
BUNDLED = "the bundled subset"


def sizes_argument(text: str) -> list[int]:
    """An argparse type: ``784,30,10``, as MNIST's digits need it; whether each
    size is one a network can have is NetworkConfig's to say."""
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as "
                                         f"784,30,10, not {text!r}") from None
    within_int64(max(sizes), text)
    if sizes[0] != PIXELS or sizes[-1] != CLASSES:  # every loader gives 784 pixels, 10 digits
        raise argparse.ArgumentTypeError(f"MNIST has {PIXELS} pixels and {CLASSES} digits, so "
                                         f"the sizes must start with {PIXELS} and end with "
                                         f"{CLASSES}, not {text!r}")
    return sizes


def add_commands(train_models, eval_models) -> None:
    train = train_models.add_parser(
        "mlp", help="Nielsen's network on MNIST",
        description="Train Nielsen's chapter-1 network on MNIST (defaults: the book's run).")
    train.add_argument("--epochs", type=positive(int), metavar="N",
                       help=f"passes over the training digits: the run's length "
                            f"(default {BOOK['epochs']})")
    train.add_argument("--batch-size", type=positive(int),
                       help=f"digits a mini-batch, one step each (default {BOOK['batch_size']})")
    train.add_argument("--lr", type=positive(float),
                       help=f"learning rate η (default {BOOK['lr']})")
    train.add_argument("--cost", choices=list(COSTS),
                       help=f"quadratic (the book's chapter 1, on sigmoid outputs) or "
                            f"cross-entropy (on softmax outputs) (default {BOOK['cost']})")
    train.add_argument("--holdout", type=non_negative_int,
                       help=f"examples held out for testing (default {DEFAULT_HOLDOUT}; "
                            f"0: train on all)")
    train.add_argument("--data", type=Path, default=None,
                       help="an MNIST IDX directory or an .npz with x and y "
                            "(default: the bundled 5,000 digits)")
    add_run_arguments(train)
    add_config_flags(train, NetworkConfig, NOT_FLAGS, BOOK, {}, {"sizes": sizes_argument})
    train.set_defaults(run=lambda args: run_training(args, MlpTraining()))

    evaluate = eval_models.add_parser(
        "mlp", help="evaluate a saved MLP",
        description="Evaluate a saved MLP. Without --data, on the holdout it was trained "
                    "without; an IDX directory is read as its t10k pair.")
    evaluate.add_argument("--checkpoint", type=Path, required=True, metavar="CKPT.npz",
                          help="a network that train mlp saved")
    evaluate.add_argument("--data", type=Path, default=None,
                          help="an MNIST IDX directory (its t10k pair) or an .npz with x and y "
                               "(default: the digits held out from its training data)")
    add_checks_argument(evaluate)
    add_threads_argument(evaluate)
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


class MlpTraining(Training):
    """``train mlp``: Nielsen's network, epoch by epoch, tested on the held-out digits."""

    kind = "mlp"
    defaults = BOOK
    record_type = EpochRecord
    progress_type = ClassifierProgress
    total, unit = "epochs", "epochs"
    bundled = BUNDLED

    def settings(self, args, saved):
        settings = super().settings(args, saved)
        check_config(NetworkConfig, settings, args.resume if saved else None)
        return settings

    def read(self, data, settings, meta):
        return training_data(data, settings["holdout"])

    def needs(self, settings, dataset):
        (x_train, _), (x_test, _), _ = dataset
        return network_needs(settings["sizes"], settings["batch_size"],
                             len(x_train) + len(x_test), itemsize=8)

    def build(self, args, settings, dataset, meta, checks) -> Built:
        train, test, description = dataset
        config = config_of(NetworkConfig, settings, output=COSTS[settings["cost"]])
        model = Network.from_config(config)
        cost = QuadraticCost() if settings["cost"] == "quadratic" else SoftmaxCrossEntropy()
        optimizer = SGD(model.named_parameters(), lr=settings["lr"])
        x_train, y_train = to_inputs(train[0]), train[1]
        test_pair = (to_inputs(test[0]), test[1]) if len(test[0]) else None

        def train_from(progress, save):
            return train_classifier(model, cost, optimizer, (x_train, y_train), test_pair,
                                    epochs=settings["epochs"], batch_size=settings["batch_size"],
                                    seed=settings["seed"], quiet=args.quiet,
                                    log=run_log(args.quiet), progress=progress,
                                    save_every=args.save_every or 0, save=save)

        def finish(history):
            if test_pair is not None:
                final = {"split": "test", "correct": history.epochs[-1].correct,
                         "total": history.epochs[-1].total}
            else:
                model.eval()
                final = {"split": "train", "correct": model.evaluate(x_train, y_train),
                         "total": len(x_train)}
            final["accuracy"] = final["correct"] / final["total"]
            return (f"{final['split']} accuracy {final['accuracy']:.4f} "
                    f"({final['correct']}/{final['total']})",
                    {"final": final, "history": history.to_json()})

        header = [f"Network {list(config.sizes)}: {config.activation}, {settings['cost']} cost, "
                  f"init {config.init}, η = {settings['lr']}, batch {settings['batch_size']}, "
                  f"{settings['epochs']} epochs, checks {checks}",
                  f"data: {description}"]
        return Built(model, optimizer, config, fingerprint(x_train, y_train), header,
                     train_from, finish)


def load_network(path: Path) -> tuple[Network, dict]:
    """The network a checkpoint holds, and the checkpoint's description."""
    arrays, meta = load_checkpoint(path)
    if meta.get("model") != "mlp":
        raise CheckpointError(f"{path}: holds a {meta.get('model')!r} model, not an mlp")
    model = Network.from_config(config_from(NetworkConfig, meta, path))
    load_parameters(model, arrays, source=str(path))
    return model, meta


def held_out(path: Path, meta: dict):
    """The digits the network in ``path`` never trained on: ``(x, y, where)``.

    They are recomputed from the data it trained on, which must still be the
    same: the checkpoint's fingerprint of the training part is compared, so
    that reordered or edited digits cannot give a held-out set the network
    has partly seen (and a flattering accuracy) without a word.
    """
    settings, data = meta.get("settings"), meta.get("data")
    holdout = settings.get("holdout") if isinstance(settings, dict) else None
    if not isinstance(holdout, int) or isinstance(holdout, bool) or holdout < 0:
        raise CheckpointError(f"{path}: the description's settings.holdout is missing or "
                              f"damaged ({holdout!r}); pass --data to evaluate on other digits")
    if not isinstance(data, (str, type(None))) or not isinstance(meta.get("data_sha256"), str):
        raise CheckpointError(f"{path}: the description's data or data_sha256 is damaged; "
                              f"pass --data to evaluate on other digits")
    trained_on = None if data is None else Path(data)
    (x_train, y_train), (x, y), _ = training_data(trained_on, holdout)
    if fingerprint(to_inputs(x_train), y_train) != meta["data_sha256"]:
        raise CheckpointError(f"{path}: {trained_on or BUNDLED} is not the data this network "
                              f"trained on (it has changed since); its held-out digits cannot "
                              f"be found again: pass --data to evaluate on other digits")
    if len(x) == 0:
        raise CheckpointError(f"{path} was trained on all the data: pass --data to "
                              f"evaluate it")
    return x, y, f"the {len(x):,} examples held out from {trained_on or BUNDLED}"


def run_eval(args) -> int:
    use_checks(args)
    model, meta = load_network(args.checkpoint)
    if args.data is None:  # the data it was trained on: its held-out part
        x, y, description = held_out(args.checkpoint, meta)
    elif args.data.is_dir():
        x, y = load_idx_dir(args.data, "test")
        description = f"{args.data} (t10k)"
    else:
        x, y = load_npz(args.data)
        description = str(args.data)
    model.eval()
    use_threads(args.threads)
    correct = model.evaluate(to_inputs(x), y)
    print(f"evaluating {args.checkpoint} on {description}")
    print(f"test accuracy {correct / len(x):.4f} ({correct}/{len(x)})")
    return 0
