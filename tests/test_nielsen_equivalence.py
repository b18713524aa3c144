"""The batched Network does exactly what the book's per-example loop does."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from shapesafe_nn import SGD, QuadraticCost
from shapesafe_nn.models import Network
from shapesafe_nn.models.per_example import PerExampleNetwork

TOLERANCE = 1e-12  # float64; both compute the same sums in a different order


def batched_update(network: Network, xs, labels, eta):
    cost = QuadraticCost()
    network.zero_grad()
    cost.forward(network.forward(xs), labels)
    network.backward(cost.backward())
    SGD(network.parameters(), lr=eta).step()


def dense_values(network: Network):
    dense = [layer for layer in network.layers if hasattr(layer, "W")]
    return [layer.W.value for layer in dense], [layer.b.value for layer in dense]


@settings(max_examples=25, deadline=None)
@given(sizes=st.lists(st.integers(1, 12), min_size=2, max_size=4),
       batch=st.integers(1, 12), seed=st.integers(0, 2**16))
def test_one_batched_step_equals_the_summed_per_example_step(sizes, batch, seed):
    rng = np.random.default_rng(seed)
    network = Network(sizes, seed=seed)
    book = PerExampleNetwork.from_network(network)
    xs = rng.random((batch, sizes[0]))
    labels = rng.integers(0, sizes[-1], batch)

    batched_update(network, xs, labels, eta=3.0)
    book.update_mini_batch(xs, labels, eta=3.0)

    weights, biases = dense_values(network)
    for ours, theirs in zip(weights, book.weights):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=TOLERANCE)
    for ours, theirs in zip(biases, book.biases):
        np.testing.assert_allclose(ours, theirs.ravel(), rtol=0, atol=TOLERANCE)


def test_many_steps_on_real_digits_stay_equal():
    from shapesafe_nn.data import load_bundled, to_inputs
    x, y = load_bundled()
    rng = np.random.default_rng(0)
    order = rng.permutation(len(x))[:200]
    xs, labels = to_inputs(x[order]), y[order]
    network = Network([784, 30, 10], seed=1)
    book = PerExampleNetwork.from_network(network)
    for start in range(0, 200, 10):
        batched_update(network, xs[start:start + 10], labels[start:start + 10], eta=3.0)
        book.update_mini_batch(xs[start:start + 10], labels[start:start + 10], eta=3.0)
    weights, _ = dense_values(network)
    for ours, theirs in zip(weights, book.weights):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=TOLERANCE)
    probe = xs[:50]
    np.testing.assert_allclose(network.forward(probe), book.feedforward(probe.T).T,
                               rtol=0, atol=TOLERANCE)
