"""Parameter and Module: names, counts, gradients, modes, printing."""

import numpy as np
import pytest

from shapesafe_nn import Dense, Module, Parameter, Sigmoid
from shapesafe_nn.models import Network


class Block(Module):
    """Two named sub-layers and a parameter of its own, nested one level."""

    def __init__(self):
        super().__init__()
        self.scale = Parameter(np.ones(3), "d_out")
        self.proj = Dense(4, 3)
        self.act = Sigmoid()


class Outer(Module):
    def __init__(self):
        super().__init__()
        self.block = Block()
        self.head = Dense(3, 2)


# ---------------------------------------------------------------------------
# Parameter
# ---------------------------------------------------------------------------
def test_parameter_holds_value_a_zero_gradient_and_its_dims():
    p = Parameter(np.ones((2, 3), dtype=np.float32), "d_out d_in")
    assert p.grad.shape == (2, 3) and p.grad.dtype == np.float32 and not p.grad.any()
    assert p.dims == "d_out d_in"
    assert repr(p) == "Parameter(d_out d_in) = (2, 3) float32"


@pytest.mark.parametrize("value", [np.arange(3), np.array([True, False]), [1, 2]])
def test_parameter_refuses_anything_but_floats(value):
    with pytest.raises(TypeError, match=r"a Parameter must hold floats, not (int64|bool)"):
        Parameter(value, "d_out")


# ---------------------------------------------------------------------------
# Module: parameters and sub-modules
# ---------------------------------------------------------------------------
def test_named_parameters_follow_attribute_paths_in_order():
    names = [name for name, _ in Outer().named_parameters()]
    assert names == ["block.scale", "block.proj.W", "block.proj.b", "head.W", "head.b"]


def test_network_parameters_are_named_by_layer_position():
    names = [name for name, _ in Network([784, 30, 10]).named_parameters()]
    assert names == ["layers.0.W", "layers.0.b", "layers.2.W", "layers.2.b"]


def test_num_parameters():
    # Nielsen's network: 784·30 + 30 + 30·10 + 10
    assert Network([784, 30, 10]).num_parameters() == 23_860
    assert Outer().num_parameters() == 3 + (4 * 3 + 3) + (3 * 2 + 2)
    assert Sigmoid().num_parameters() == 0


def test_reassigning_an_attribute_replaces_what_is_registered():
    module = Block()
    module.proj = None
    module.scale = Parameter(np.ones(5), "d_out")
    assert [name for name, _ in module.named_parameters()] == ["scale"]
    assert module.num_parameters() == 5


def test_assigning_before_super_init_says_what_to_do():
    class Forgetful(Module):
        def __init__(self):
            self.W = Parameter(np.ones(2), "d_out")

    with pytest.raises(RuntimeError, match=r"Forgetful.__init__ must call super\(\).__init__\(\) "
                                           r"before assigning 'W'"):
        Forgetful()


def test_zero_grad_clears_every_gradient_in_place():
    rng = np.random.default_rng(0)
    model = Network([4, 3, 2], seed=0)
    model.forward(rng.standard_normal((5, 4)))
    model.backward(rng.standard_normal((5, 2)))
    grads = [p.grad for p in model.parameters()]
    assert all(g.any() for g in grads)
    model.zero_grad()
    assert all(not p.grad.any() for p in model.parameters())
    # in place: an optimizer holding these arrays sees the cleared values
    assert all(p.grad is g for p, g in zip(model.parameters(), grads))


def test_train_and_eval_reach_every_module_inside():
    model = Outer()
    assert model.eval() is model
    assert [m.training for _, m in model.named_modules()] == [False] * 5
    assert model.train() is model
    assert all(m.training for _, m in model.named_modules())
    model.block.eval()  # a sub-module alone
    assert model.training and not model.block.proj.training and model.head.training


def test_calling_a_module_runs_forward():
    layer = Dense(3, 2, rng=np.random.default_rng(0))
    x = np.ones((1, 3))
    np.testing.assert_array_equal(layer(x), layer.forward(x))


def test_saved_outside_a_backward_is_a_runtime_error():
    with pytest.raises(RuntimeError, match="Block.saved is only readable inside Block.backward"):
        Block().saved


# ---------------------------------------------------------------------------
# Printing
# ---------------------------------------------------------------------------
def test_repr_shows_every_size_and_the_parameter_counts():
    assert repr(Network([784, 30, 10])) == """\
Network(sizes=[784, 30, 10])  # 23,860 parameters
  (layers): Sequential()  # 23,860 parameters
    (0): Dense(d_in=784, d_out=30)  # 23,550 parameters
      W: (d_out d_in) = (30, 784)
      b: (d_out) = (30,)
    (1): Sigmoid()
    (2): Dense(d_in=30, d_out=10)  # 310 parameters
      W: (d_out d_in) = (10, 30)
      b: (d_out) = (10,)
    (3): Sigmoid()"""


def test_repr_of_a_module_with_its_own_parameter():
    text = repr(Block())
    assert text.startswith("Block()  # 18 parameters\n  scale: (d_out) = (3,)\n")
    assert "(proj): Dense(d_in=4, d_out=3)  # 15 parameters" in text
