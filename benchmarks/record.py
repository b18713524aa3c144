"""Where a benchmark's results go: one JSON file per script, which the pages quote.

A figure that the README, ``benchmarks/README.md`` or a page of the docs
quotes (a ratio, a loss, a time) comes from the file its script wrote,
``benchmarks/results/NAME.json``, and ``tests/test_quoted_figures.py``
checks every quoted figure against it: a new run that changes a figure
fails that test until the pages say the new one, and a page edited
without a new run fails it too.

Each script calls :func:`start` once its arguments are parsed, and
:meth:`Recording.save` with its figures at the end.  The file holds:

- ``script``, ``command`` (the command line, as run from the repository's
  root) and ``date``;
- ``machine``: :func:`machine.describe`'s lines (the CPU, its cores and
  vector units, the thread settings, the load average at the start);
- ``output``: every line the script printed, so that a page's excerpt of
  the output can be checked line by line;
- ``figures``: the measured numbers by name, as the pages quote them.

``--results PATH`` writes elsewhere: a smoke run or a trial keeps the
recorded file as it is.
"""

import datetime
import io
import json
import sys
from pathlib import Path

import machine

RESULTS = Path(__file__).resolve().parent / "results"


def add_results_argument(parser) -> None:
    """``--results PATH``: where to write the results instead of the recorded file."""
    parser.add_argument("--results", type=Path, default=None,
                        help="where to write the results as JSON (default: "
                             "benchmarks/results/, the file the pages quote)")


class Recording:
    """Everything printed from :func:`start` on, kept as well as shown."""

    def __init__(self, path: Path):
        self.path = path
        self.machine = machine.describe().splitlines()
        self.printed = io.StringIO()
        self._stdout = sys.stdout
        sys.stdout = self

    # sys.stdout's interface: show it and keep it
    def write(self, text: str) -> int:
        self.printed.write(text)
        return self._stdout.write(text)

    def flush(self) -> None:
        self._stdout.flush()

    def save(self, figures: dict) -> Path:
        """Write the results file; printing goes on as before."""
        sys.stdout = self._stdout
        script = Path(sys.argv[0])
        results = {
            "script": f"benchmarks/{script.name}",
            "command": " ".join(["python", f"benchmarks/{script.name}", *sys.argv[1:]]),
            "date": datetime.date.today().isoformat(),
            "machine": self.machine,
            "output": self.printed.getvalue().splitlines(),
            "figures": figures,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n",
                             encoding="utf-8")
        print(f"results written to {self.path}")
        return self.path


def start(path: Path | None, name: str) -> Recording:
    """Begin keeping what the script prints, for the results file at ``path``
    (``--results``), by default ``benchmarks/results/NAME.json``."""
    return Recording(path or RESULTS / f"{name}.json")
