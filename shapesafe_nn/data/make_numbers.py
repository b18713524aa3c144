"""Write the bundled number-words task: one number, in words, in four languages.

Run once, from the repository root, to regenerate the two bundled files::

    pip install num2words==0.5.14
    python -m shapesafe_nn.data.make_numbers

num2words (LGPL) is used only here, to generate the files: the package does
not import it and does not ship it.  Each line of ``numbers_train.tsv`` and
``numbers_test.tsv`` is one number written out in :data:`LANGUAGES`, in
that order, separated by tabs: ``twenty-one<TAB>vingt et un<TAB>
einundzwanzig<TAB>二十一``.  ``shapesafe_nn.data.pairs.read_pairs`` picks
two of the columns (``load_numbers("en-fr")``).

Numbers are drawn from [0, 1,000,000) without repetition, and the split is
by number: no test number is in the training file.  Each of the six lengths
(1 to 6 digits) is drawn equally often, so that "twenty-one" is as much a
part of the task as "nine hundred and ninety-nine thousand, ...": drawn
uniformly, 90 % of the numbers would have six digits and hardly any one or
two.  The 1- to 3-digit numbers run out (there are only 1,000 of them), so
the longer ones fill the remaining draws.
"""

from pathlib import Path

import numpy as np

LANGUAGES = ("en", "fr", "de", "ja")  # the columns of the bundled files, in order
LIMIT = 1_000_000  # numbers are drawn from [0, LIMIT)
TRAIN, TEST = 20_000, 1_000  # distinct numbers in each file
SEED = 0
HERE = Path(__file__).parent


def draw_numbers(count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` distinct numbers in [0, LIMIT), each digit length equally likely."""
    numbers = np.arange(LIMIT)
    digits = np.char.str_len(numbers.astype(str))
    per_length = np.bincount(digits)[digits]  # how many numbers share each one's length
    weights = 1.0 / per_length
    return rng.choice(numbers, size=count, replace=False, p=weights / weights.sum())


def rows(numbers: np.ndarray) -> list[str]:
    from num2words import num2words  # only this script needs it

    return ["\t".join(num2words(int(n), lang=lang) for lang in LANGUAGES) for n in numbers]


def main() -> None:
    rng = np.random.default_rng(SEED)
    numbers = draw_numbers(TRAIN + TEST, rng)
    for name, part in (("numbers_train.tsv", numbers[:TRAIN]),
                       ("numbers_test.tsv", numbers[TRAIN:])):
        path = HERE / name
        path.write_text("\n".join(rows(part)) + "\n", encoding="utf-8")
        print(f"{path}: {len(part):,} numbers, {path.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
