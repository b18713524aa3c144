"""Parameters and modules: the containers every layer is built from.

A :class:`Parameter` is a value and its gradient, plus the *symbolic* shape
the value must always have (``"d_out d_in"`` for a weight matrix).  A
:class:`Module` finds its parameters and sub-modules by attribute
assignment, so ``named_parameters()`` yields names such as
``"blocks.0.attn.qkv.W"``, and ``print(model)`` shows every size.
"""

import warnings
import weakref
from collections.abc import Iterable, Iterator

import numpy as np

from .decorator import checked
from .dims import floats
from .records import Record, is_recording


# A layer this many forwards ahead of its backwards is almost surely being
# evaluated outside no_grad(): every record keeps its forward's activations.
PILING_UP = 1000


class Parameter:
    """A trainable array, its gradient, and the dims it must keep.

    ``grad`` has the value's shape and dtype and *accumulates*: each
    ``backward`` adds to it, and ``Module.zero_grad`` clears it.
    """

    __slots__ = ("value", "grad", "dims", "hint", "owners")

    def __init__(self, value: np.ndarray, dims: str):
        value = np.asarray(value)
        if not np.issubdtype(value.dtype, np.floating):
            raise TypeError(f"a Parameter must hold floats, not {value.dtype}")
        self.value = value
        self.grad = np.zeros_like(value)
        self.dims = dims
        self.hint = floats(dims)
        self.owners: list[weakref.ref] = []  # the modules holding it, for an optimizer

    def __repr__(self) -> str:
        return f"Parameter({self.dims}) = {self.value.shape} {self.value.dtype}"


class Module:
    """Base class of every layer and model.

    Subclasses assign parameters and sub-modules as attributes; this class
    records them in order.  A layer implements ``forward`` (compute and save
    what backward needs) and ``backward`` (add parameter gradients into
    ``.grad`` and return the gradient with respect to the input).
    """

    training: bool = True
    # (path, dims) of arrays inside sub-layers that fix this layer's dims, checked
    # before the arguments: ("ln1.gamma", "d_model") lets a TransformerBlock
    # blame a wrong x itself.  A layer with parameters of its own needs none.
    shape_anchors: tuple[tuple[str, str], ...] = ()

    def __init_subclass__(cls, **kwargs):
        """A ``forward`` or ``backward`` written without ``@checked`` gets it here.

        The decorator keeps the records (see ``records.py``): without it, a
        subclass that overrides ``backward`` could not read what its forward
        saved, and one that overrides ``forward`` would keep nothing.  So no
        layer can skip them by forgetting a line.  Writing ``@checked`` stays
        the clear way: it says that the annotations are enforced.
        """
        super().__init_subclass__(**kwargs)
        for name in ("forward", "backward"):
            method = cls.__dict__.get(name)
            if callable(method) and not getattr(method, "keeps_records", False):
                setattr(cls, name, checked(method))

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "_records", [])  # one per forward awaiting its backward
        object.__setattr__(self, "_open_record", None)  # the forward running now fills it
        object.__setattr__(self, "_consuming", None)  # the record of the backward running now
        object.__setattr__(self, "_saved", None)  # its arrays
        object.__setattr__(self, "_spent", None)  # the last backward's, until the next forward
        object.__setattr__(self, "_pass", 0)  # this layer's zero_grad count: its records' pass
        object.__setattr__(self, "_backwards", 0)  # backwards run in this pass
        object.__setattr__(self, "_parents", [])  # weak references to the modules holding it

    def __setattr__(self, name: str, value) -> None:
        if name.startswith("_") and not isinstance(value, (Parameter, Module)):
            # private bookkeeping such as _saved, set on every call: keep it cheap
            object.__setattr__(self, name, value)
            return
        if "_parameters" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}.__init__ must call super().__init__() "
                               f"before assigning {name!r}")
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
            _add_holder(value.owners, self)
        elif isinstance(value, Module):
            self._modules[name] = value
            _add_holder(value._parents, self)
        object.__setattr__(self, name, value)

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # -- what backward needs -------------------------------------------------
    def save_for_backward(self, **arrays) -> None:
        """Keep exactly what ``backward`` needs from this ``forward`` call.

        The arrays go into this call's own record (see :class:`Record`).
        Inside ``no_grad()`` nothing is kept.  Call it from a forward
        decorated with ``@checked``, which opens and closes the record.
        """
        record = self._open_record
        if record is not None:
            record.arrays = arrays
        elif is_recording():
            name = type(self).__name__
            raise RuntimeError(f"{name}.save_for_backward was called outside {name}.forward, "
                               f"or from a forward without @checked, which keeps the records")

    @property
    def saved(self) -> dict:
        """The arrays the forward of the record being differentiated saved.

        Read inside ``backward`` only: it is the record that this backward
        call consumed, the most recent forward's that no backward had used.
        """
        if self._saved is None:
            name = type(self).__name__
            raise RuntimeError(f"{name}.saved is only readable inside {name}.backward")
        return self._saved

    def pending_records(self) -> int:
        """How many forwards of this layer (not of its sub-layers) await a backward."""
        return sum(record.pass_number == self._pass for record in self._records)

    def _push_record(self, record: Record) -> None:
        records = self._records
        if records and records[-1].pass_number != record.pass_number:
            records.clear()  # left by an earlier pass: no backward may use them now
        records.append(record)
        if len(records) == PILING_UP:
            name = type(self).__name__
            warnings.warn(f"{name}: {PILING_UP} forwards are waiting for a backward, each "
                          f"keeping its activations; run evaluations and predictions inside "
                          f"shapesafe_nn.no_grad(), or call zero_grad() between steps",
                          ResourceWarning, stacklevel=3)

    def _waiting_record(self, method: str) -> Record:
        """The most recent record, left on the stack (the backward pops it once
        its arguments pass their checks: a refused ``dout`` loses nothing);
        refused if there is none or it is stale."""
        name = type(self).__name__
        records = self._records
        if not records:
            raise RuntimeError(
                f"{name}.{method}: no forward is waiting for this backward: every forward "
                f"of this {name} has had its backward, or ran inside no_grad()")
        if records[-1].pass_number != self._pass:
            records.clear()
            raise RuntimeError(
                f"{name}.{method}: the only forwards waiting ran before the last zero_grad(); "
                f"run the forward again after zero_grad(), then its backward")
        return records[-1]

    def _consume(self, record: Record) -> None:
        """A backward has taken ``record``, the most recent one."""
        self._records.pop()
        self._backwards += 1

    def _start_new_pass(self) -> None:
        """Records made so far can no longer be used (see :class:`Record`)."""
        self._pass += 1
        self._backwards = 0

    # -- parameters and sub-modules -----------------------------------------
    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, "Module"]]:
        """This module and every module inside it, with dotted names."""
        yield prefix, self
        for name, module in self._modules.items():
            yield from module.named_modules(f"{prefix}.{name}" if prefix else name)

    def named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        """Every parameter inside this module: ``("layers.0.W", Parameter)``.

        A Parameter shared by two modules is yielded once, under its first
        name, so an optimizer never updates it twice.
        """
        seen = set()
        for path, module in self.named_modules():
            for name, parameter in module._parameters.items():
                if id(parameter) not in seen:
                    seen.add(id(parameter))
                    yield (f"{path}.{name}" if path else name), parameter

    def parameters(self) -> list[Parameter]:
        return [parameter for _, parameter in self.named_parameters()]

    def num_parameters(self) -> int:
        return sum(parameter.value.size for parameter in self.parameters())

    def zero_grad(self) -> None:
        """Clear every gradient and start a new pass of this module and those
        inside it: records that no backward consumed (an aborted step) can no
        longer be used (see :class:`Record`).  Other models keep theirs.

        Raises RuntimeError, after clearing, if a layer ran a backward in the
        pass that ends while forwards of it still waited: that backward
        differentiated the last forward, maybe not the one meant (an
        evaluation run outside ``no_grad()`` between a step's forward and its
        backward), so the gradients just cleared were wrong.
        """
        modules = list(self.named_modules())
        problem = unconsumed_forwards(f"{type(self).__name__}.zero_grad", modules)
        for _, module in modules:
            module._start_new_pass()
        for parameter in self.parameters():
            parameter.grad[...] = 0
        if problem is not None:
            raise RuntimeError(problem + "\n  (the gradients and records are cleared now)")

    def train(self, mode: bool = True) -> "Module":
        """Training mode (dropout active) for this module and all inside it."""
        for _, module in self.named_modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self) -> "Module":
        """Evaluation mode: dropout off."""
        return self.train(False)

    # -- printing ------------------------------------------------------------
    def extra_repr(self) -> str:
        """The constructor arguments to show in ``repr``; layers override this."""
        return ""

    def __repr__(self) -> str:
        own = "".join(f"\n  {name}: ({p.dims}) = {p.value.shape}"
                      for name, p in self._parameters.items())
        children = "".join(f"\n  ({name}): " + repr(module).replace("\n", "\n  ")
                           for name, module in self._modules.items())
        count = self.num_parameters()
        size = f"  # {count:,} parameters" if count else ""
        return f"{type(self).__name__}({self.extra_repr()}){size}{own}{children}"


def _add_holder(holders: list[weakref.ref], module: "Module") -> None:
    """Note that ``module`` holds a parameter or sub-module, once however often it is
    assigned again (``weakref.ref`` gives the same reference for the same module)."""
    holder = weakref.ref(module)
    if holder not in holders:
        holders.append(holder)


def unconsumed_forwards(where: str, modules: list[tuple[str, Module]]) -> str | None:
    """The message for layers that ran a backward while forwards of theirs still
    wait, in this pass; None if there are none.

    ``forward(train batch)``, ``forward(val batch)`` outside ``no_grad()``, then
    ``backward``: the backward differentiates the validation batch, silently.
    An aborted step (forwards, no backward) is not one of these: the next
    pass drops its records.
    """
    wrong = [(path, module) for path, module in modules
             if module._backwards and module.pending_records()]
    if not wrong:
        return None
    path, module = wrong[0]
    waiting = module.pending_records()
    forwards = waiting + module._backwards
    name = f"{path} ({type(module).__name__})" if path else type(module).__name__
    others = f", and in {len(wrong) - 1} other layers" if len(wrong) > 1 else ""
    return (f"{where}: {forwards} forwards and {module._backwards} "
            f"backward{'s' if module._backwards > 1 else ''} since zero_grad() in {name}{others}\n"
            f"  the backward differentiated the last forward, and {waiting} "
            f"forward{'s' if waiting > 1 else ''} before it never had one\n"
            f"  hint: run evaluation inside no_grad(), so that it records nothing")


def name_in_its_model(module: Module) -> str:
    """``"blocks.1.attn (a MultiHeadAttention in a GPT)"``: where ``module`` sits in
    the model holding it (through its first holder at each level), for a
    message that must tell two layers of one class apart; ``"a Dense"`` for a
    module that nothing holds."""
    root = module
    while True:
        holders = [holder() for holder in root._parents]
        holder = next((holder for holder in holders if holder is not None), None)
        if holder is None:
            break
        root = holder
    kind = type(module).__name__
    path = next((path for path, inside in root.named_modules() if inside is module), "")
    if not path:  # nothing holds it (or its holder let it go)
        return f"{_article(kind)} {kind}"
    return f"{path} ({_article(kind)} {kind} in {_article(type(root).__name__)} " \
           f"{type(root).__name__})"


def _article(word: str) -> str:
    return "an" if word[0] in "AEIOU" else "a"


def modules_holding(parameters: Iterable[Parameter]) -> list[tuple[str, Module]]:
    """Every module of the models these parameters belong to, with its path from
    its model: what an optimizer's ``zero_grad`` starts a new pass of."""
    roots: dict[int, Module] = {}
    climbing = [owner() for parameter in parameters for owner in parameter.owners]
    visited: set[int] = set()
    while climbing:
        module = climbing.pop()
        if module is None or id(module) in visited:
            continue
        visited.add(id(module))
        parents = [parent() for parent in module._parents]
        if any(parent is not None for parent in parents):
            climbing.extend(parents)
        else:
            roots[id(module)] = module
    found: dict[int, tuple[str, Module]] = {}
    for root in roots.values():
        for path, module in root.named_modules():
            found.setdefault(id(module), (path, module))
    return list(found.values())
