"""The mutation check (tests/mutations.py): every planted bug makes its tests fail.

One test per mutation, so a survivor is named in the report.  All of them
run once, side by side, in a module fixture; a mutation whose line is gone
fails its own test with the line it looked for.
"""

import pytest
from mutations import MUTATIONS, Mutation, MutationError, check, mutate


@pytest.fixture(scope="module")
def outcomes():
    return check(MUTATIONS)


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda mutation: mutation.name)
def test_the_mutation_is_killed(outcomes, mutation):
    outcome = outcomes[mutation.name]
    if isinstance(outcome, MutationError):
        pytest.fail(str(outcome))
    assert outcome.killed, (f"mutation {mutation.name} survived: {mutation.meaning}; "
                            f"{' '.join(mutation.tests)} passed with shapesafe_nn/{mutation.file} "
                            f"line {mutation.line!r} replaced by {mutation.replacement!r}")


def test_every_mutation_has_its_own_name():
    names = [mutation.name for mutation in MUTATIONS]
    assert len(set(names)) == len(names)


# ---------------------------------------------------------------------------
# mutate: one whole line, matched exactly once, indentation kept
# ---------------------------------------------------------------------------
PLANTED = Mutation("example", "example.py", "return a + b", "return a - b", ("tests/x.py",),
                   "subtracts")


def test_mutate_replaces_the_whole_line_and_keeps_its_indentation():
    source = "def f(a, b):\n    return a + b\n"
    assert mutate(source, PLANTED) == "def f(a, b):\n    return a - b\n"


@pytest.mark.parametrize("source, count", [
    ("def f(a, b):\n    return a + b + 1\n", 0),  # part of a line is not the line
    ("def f(a, b):\n    return a + b\n\ndef g(a, b):\n    return a + b\n", 2),
])
def test_a_line_that_is_gone_or_ambiguous_is_an_error(source, count):
    with pytest.raises(MutationError, match=rf"mutation example: shapesafe_nn/example.py has "
                                            rf"{count} lines equal to 'return a \+ b', not "
                                            rf"exactly 1; update the entry"):
        mutate(source, PLANTED)
