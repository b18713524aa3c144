"""Run ``shapesafe-nn`` in this process, as the CLI tests do.

``run(*argv)`` returns the exit code and what was printed; argparse's
``SystemExit`` becomes the code, as it would for a real process.
"""

import contextlib
import io
from dataclasses import dataclass

from shapesafe_nn.cli import main


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()

    def __iter__(self):  # code, out, err = run(...)
        return iter((self.code, self.out, self.err))


def run(*argv) -> Result:
    """``shapesafe-nn argv...`` in this process; argparse's exits become the code."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(arg) for arg in argv])
        except SystemExit as exit_:
            code = exit_.code
    return Result(code, out.getvalue(), err.getvalue())


def assert_fails(result: Result, code: int, *fragments: str) -> None:
    """Exit ``code`` with a message holding each fragment; for code 1, one line, no traceback."""
    assert result.code == code, (result.out, result.err)
    assert "Traceback" not in result.err, result.err
    if code == 1:
        assert result.err.startswith("shapesafe-nn: error: "), result.err
        assert result.err.count("\n") == 1, result.err  # one line
    else:
        assert "usage:" in result.err, result.err
    for fragment in fragments:
        assert fragment in result.err, result.err
