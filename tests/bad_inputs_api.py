"""The engine's API given bad input: (where, the bad input, what runs it, the message it must contain)."""
# ruff: noqa: E501 - a table, one case per line, read across like docs/bad-inputs.md's

import tinygrad_edu as tg
from tinygrad_edu import nn
from tinygrad_edu.nn import functional as F


def _leaf(*size):
    return tg.ones(*size, requires_grad=True)


def _assign_grad(grad):
    _leaf(2, 3).grad = grad


def _with_grad(norm_type):
    p = nn.Parameter(tg.ones(2))
    p.grad = tg.tensor([float("inf"), 1.0])
    return nn.utils.clip_grad_norm_([p], 1.0, norm_type=norm_type, error_if_nonfinite=True)


def _no_grad_without_call():
    with tg.no_grad:
        pass


def _register_parameter(value):
    nn.Module().register_parameter("w", value)


def _add_param_group(group):
    tg.optim.SGD([_leaf(2)], lr=0.1).add_param_group(group)


API_CASES = [
    # -- tensor(): what a tensor can be made of
    ("tensor", "a None inside a list", lambda: tg.tensor([1.0, None]), "Could not infer dtype of NoneType"),
    ("tensor", "an int past int64", lambda: tg.tensor(2**70), "Overflow when unpacking long: 1180591620717411303424 does not fit in int64"),
    ("tensor", "an int just past int64's largest", lambda: tg.tensor([2**63]), "Overflow when unpacking long: 9223372036854775808"),
    ("tensor", "a dict", lambda: tg.tensor({"a": 1}), "Could not infer dtype of dict"),
    ("tensor", "a generator", lambda: tg.tensor(x for x in range(3)), "Could not infer dtype of generator"),
    ("tensor", "a string", lambda: tg.tensor("abc"), "invalid data type 'str': a tensor holds numbers"),
    ("tensor", "a string inside nested lists", lambda: tg.tensor([[1.0, "a"]]), "invalid data type 'str'"),
    ("tensor", "rows of one and two numbers", lambda: tg.tensor([[1], [2, 3]]), "the nested lists are ragged"),
    ("tensor", "a list of two-element tensors", lambda: tg.tensor([_leaf(2), tg.ones(2)]), "only one element tensors can be converted to Python scalars, got a tensor of shape (2,) in the list (use stack() to join tensors)"),
    ("tensor", "nan made an int64", lambda: tg.tensor([float("nan")], dtype=tg.long), "value cannot be converted to type int64 without overflow"),
    ("tensor", "1e30 made an int32", lambda: tg.tensor([1e30], dtype=tg.int32), "value cannot be converted to type int32 without overflow"),
    ("tensor", "dtype=3", lambda: tg.tensor([1.0], dtype=3), "dtype must be a tinygrad_edu dtype such as tinygrad_edu.float32, got 3"),
    ("tensor", "requires_grad_('yes')", lambda: tg.ones(2).requires_grad_("yes"), "requires_grad_(): argument 'requires_grad' must be bool, not str"),
    ("tensor", "to(dtype='x')", lambda: tg.ones(2).to(dtype="x"), "dtype must be a tinygrad_edu dtype such as tinygrad_edu.float32, got 'x'"),
    # -- devices
    ("device", "to('cuda:x')", lambda: tg.ones(2).to("cuda:x"), "Invalid device string: 'cuda:x'"),
    ("device", "device('cpu:-1')", lambda: tg.device("cpu:-1"), "Invalid device string: 'cpu:-1'"),
    ("device", "device('cuda:-1')", lambda: tg.device("cuda:-1"), "Invalid device string: 'cuda:-1'"),
    ("device", "device('cuda:') without an index", lambda: tg.device("cuda:"), "Invalid device string: 'cuda:'"),
    ("device", "zeros(2, device='cuda:1:2')", lambda: tg.zeros(2, device="cuda:1:2"), "Invalid device string: 'cuda:1:2'"),
    ("device", "device('')", lambda: tg.device(""), "Device string must not be empty"),
    ("device", "device(1.5)", lambda: tg.device(1.5), "device must be a string such as 'cpu' or 'cuda', got float"),
    ("device", "device('CUDA')", lambda: tg.device("CUDA"), "unknown device 'CUDA': expected 'cpu', 'cuda' or 'cuda:N'"),
    # -- factories
    ("factories", "zeros(-1)", lambda: tg.zeros(-1), "zeros(): Trying to create tensor with negative dimension -1: [-1]"),
    ("factories", "randn(2, -3)", lambda: tg.randn(2, -3), "randn(): Trying to create tensor with negative dimension -3: [2, -3]"),
    ("factories", "ones(2.5)", lambda: tg.ones(2.5), "ones(): argument 'size' must be a tuple of ints, but found element of type float at pos 0"),
    ("factories", "empty((2, '3'))", lambda: tg.empty((2, "3")), "empty(): argument 'size' must be a tuple of ints, but found element of type str at pos 1"),
    ("factories", "full((2,), None)", lambda: tg.full((2,), None), "full(): argument 'fill_value' must be a number, not NoneType"),
    ("factories", "zeros(2, dtype='floaty')", lambda: tg.zeros(2, dtype="floaty"), "dtype must be a tinygrad_edu dtype such as tinygrad_edu.float32, got 'floaty'"),
    ("factories", "randn(2, dtype=long)", lambda: tg.randn(2, dtype=tg.long), "randn: samples need a floating point dtype, got tinygrad_edu.int64"),
    ("factories", "randint(0, 5.5, (2,))", lambda: tg.randint(0, 5.5, (2,)), "randint(): argument 'high' must be int, not float"),
    ("factories", "randint(5, 5, (2,))", lambda: tg.randint(5, 5, (2,)), "randint: high (5) must be greater than low (5)"),
    ("factories", "arange(0, 10, 0)", lambda: tg.arange(0, 10, 0), "step must be nonzero"),
    ("factories", "arange(0, 10, -1)", lambda: tg.arange(0, 10, -1), "upper bound and lower bound inconsistent with step sign"),
    ("factories", "arange(0, nan)", lambda: tg.arange(0, float("nan")), "unsupported range: 0 -> nan"),
    ("factories", "arange(0, inf)", lambda: tg.arange(0, float("inf")), "unsupported range: 0 -> inf"),
    ("factories", "arange('5')", lambda: tg.arange("5"), "arange(): argument 'end' must be a number, not str"),
    ("factories", "linspace(0, 1, -1)", lambda: tg.linspace(0, 1, -1), "linspace: steps must be non-negative, got -1"),
    ("factories", "eye(2.5)", lambda: tg.eye(2.5), "eye(): argument 'n' must be int, not float"),
    ("factories", "randperm(-1)", lambda: tg.randperm(-1), "randperm: n must be non-negative, got -1"),
    ("factories", "a seed of 2^64", lambda: tg.manual_seed(2**64), "Overflow when unpacking the seed 18446744073709551616: it must be within the inclusive range [-0x8000_0000_0000_0000, 0xffff_ffff_ffff_ffff]"),
    ("factories", "normal with std -1", lambda: tg.normal(0.0, -1.0, (2,)), "normal expects std >= 0.0, but found std -1.0"),
    ("factories", "multinomial of 0 samples", lambda: tg.multinomial(tg.tensor([0.5, 0.5]), 0), "multinomial: cannot sample 0 samples from 2 categories"),
    ("factories", "multinomial of 1.5 samples", lambda: tg.multinomial(tg.tensor([0.5, 0.5]), 1.5), "multinomial(): argument 'num_samples' must be int, not float"),
    ("factories", "multinomial of int weights", lambda: tg.multinomial(tg.tensor([1, 2]), 1), "multinomial only supports floating-point dtypes for input, got tinygrad_edu.int64"),
    ("factories", "multinomial of a negative weight", lambda: tg.multinomial(tg.tensor([0.5, -0.1]), 1), "multinomial: probabilities must be finite and non-negative"),
    ("factories", "multinomial of 3 from 2 without replacement", lambda: tg.multinomial(tg.tensor([0.5, 0.5]), 3), "cannot draw 3 samples without replacement from 2 categories"),
    ("factories", "cat along a dim that is not there", lambda: tg.cat([tg.ones(2), tg.ones(2)], dim=1), "dimension out of range (expected to be in range of [-1, 0], but got 1)"),
    ("factories", "stack along dim 3 of 1-D tensors", lambda: tg.stack([tg.ones(2), tg.ones(2)], dim=3), "dimension out of range (expected to be in range of [-2, 1], but got 3)"),
    ("factories", "cat of a tensor, not a list", lambda: tg.cat(tg.ones(2, 2)), "cat(): argument 'tensors' must be a tuple or list of Tensors, not Tensor"),
    ("factories", "cat of a tensor and a list", lambda: tg.cat([tg.ones(2), [1.0]]), "cat: expected Tensor as element 1 of the list, but got list"),
    ("factories", "cat of 0-d tensors", lambda: tg.cat([tg.tensor(1.0), tg.tensor(2.0)]), "zero-dimensional tensors cannot be concatenated"),
    ("factories", "stack of nothing", lambda: tg.stack([]), "stack: expected a non-empty list of tensors"),
    ("factories", "zeros_like of a list", lambda: tg.zeros_like([1, 2]), "zeros_like(): argument 'input' must be Tensor, not list"),
    # -- ops
    ("ops", "matmul of float32 and float64", lambda: tg.ones(2, 3) @ tg.ones(3, 2, dtype=tg.float64), "matmul: expected m1 and m2 to have the same dtype, but got: float32 != float64"),
    ("ops", "mm of float32 and int64", lambda: tg.mm(tg.ones(2, 3), tg.ones(3, 2, dtype=tg.long)), "mm: expected m1 and m2 to have the same dtype, but got: float32 != int64"),
    ("ops", "bmm of float32 and float64", lambda: tg.bmm(tg.ones(1, 2, 3), tg.ones(1, 3, 2, dtype=tg.float64)), "bmm: expected m1 and m2 to have the same dtype, but got: float32 != float64"),
    ("ops", "bmm of two matrices", lambda: tg.bmm(tg.ones(2, 3), tg.ones(3, 2)), "bmm: both arguments must be 3-D with the same batch size, got shapes (2, 3) and (3, 2)"),
    ("ops", "mm of a batch", lambda: tg.mm(tg.ones(1, 2, 3), tg.ones(3, 2)), "mm: both arguments must be matrices, got shapes (1, 2, 3) and (3, 2)"),
    ("ops", "matmul with a number", lambda: tg.ones(2, 3) @ 2, "matmul: expected Tensor operands, got int"),
    ("ops", "view(-1, -1)", lambda: tg.ones(6).view(-1, -1), "view: only one dimension can be inferred, got shape [-1, -1]"),
    ("ops", "reshape(-2, 3)", lambda: tg.ones(6).reshape(-2, 3), "reshape: invalid shape dimension -2 at index 0 of shape [-2, 3]"),
    ("ops", "reshape 6 elements to (-1, 4)", lambda: tg.ones(6).reshape(-1, 4), "reshape: shape [-1, 4] is invalid for input of size 6"),
    ("ops", "reshape 0 elements to (-1, 0)", lambda: tg.ones(0).reshape(-1, 0), "the unspecified dimension size -1 can be any value and is ambiguous"),
    ("ops", "reshape(2.0, 3)", lambda: tg.ones(6).reshape(2.0, 3), "reshape(): argument 'shape' must be a tuple of ints, but found element of type float at pos 0"),
    ("ops", "a float index", lambda: tg.ones(3)[1.5], "invalid index for a tensor of shape (3,): only integers, slices"),
    ("ops", "two indices into a 1-D tensor", lambda: tg.ones(3)[0, 0], "invalid index for a tensor of shape (3,): too many indices"),
    ("ops", "a float index into a tensor that requires grad", lambda: _leaf(3)[1.5], "invalid index for a tensor of shape (3,)"),
    ("ops", "softmax over dim 2 of a matrix", lambda: F.softmax(tg.ones(2, 3), dim=2), "dimension out of range (expected to be in range of [-2, 1], but got 2)"),
    ("ops", "sum over dims (0, 0)", lambda: tg.ones(2, 3).sum((0, 0)), "dim 0 appears multiple times in the list of dims"),
    ("ops", "sum(dtype='x')", lambda: tg.ones(2).sum(dtype="x"), "dtype must be a tinygrad_edu dtype such as tinygrad_edu.float32, got 'x'"),
    ("ops", "topk(4) of 3 elements", lambda: tg.ones(3).topk(4), "topk: k=4 is out of range for dimension -1 of size 3"),
    ("ops", "topk(1.5)", lambda: tg.ones(3).topk(1.5), "topk(): argument 'k' must be int, not float"),
    ("ops", "argmax over dim 1 of a vector", lambda: tg.ones(3).argmax(1), "dimension out of range (expected to be in range of [-1, 0], but got 1)"),
    ("ops", "argmax of an empty tensor", lambda: tg.ones(0).argmax(), "argmax(): the tensor has no elements (shape (0,))"),
    ("ops", "flatten(2, 0)", lambda: tg.ones(2, 3, 4).flatten(2, 0), "flatten() has invalid args: start_dim (2) cannot come after end_dim (0)"),
    ("ops", "split(0)", lambda: tg.ones(4).split(0), "split: split_size must be a positive int, got 0"),
    ("ops", "split 4 into [1, 2]", lambda: tg.ones(4).split([1, 2]), "split_with_sizes expects split_sizes to sum exactly to 4"),
    ("ops", "chunk(0)", lambda: tg.ones(4).chunk(0), "chunk expects chunks to be an int greater than 0, got: 0"),
    ("ops", "clamp('a')", lambda: tg.ones(2).clamp("a"), "clamp(): min and max must be numbers, got str"),
    ("ops", "masked_fill with a 1-D value", lambda: tg.ones(2).masked_fill(tg.tensor([True, False]), tg.ones(2)), "masked_fill only supports a 0-dimensional value tensor, but got one of shape (2,)"),
    ("ops", "tril of a vector", lambda: tg.ones(3).tril(), "tril: input tensor must have at least 2 dimensions, got shape (3,)"),
    ("ops", "var of an int tensor", lambda: tg.tensor([1, 2]).var(), "std and var only support floating point dtypes, got tinygrad_edu.int64"),
    ("ops", "copy_ from a longer tensor", lambda: tg.zeros(2).copy_(tg.ones(3)), "copy_: the source's shape (3,) does not broadcast to this tensor's (2,)"),
    ("ops", "fill_('a')", lambda: tg.zeros(2).fill_("a"), "fill_(): argument 'value' must be a number, not str"),
    ("ops", "uniform_(2, 1)", lambda: tg.zeros(2).uniform_(2.0, 1.0), "uniform_ expects to return a [from, to) range, but found from=2.0 > to=1.0"),
    ("ops", "new_zeros(-1)", lambda: tg.ones(2).new_zeros(-1), "new_zeros(): Trying to create tensor with negative dimension -1: [-1]"),
    ("ops", "exp of a string", lambda: tg.exp("a"), "exp(): argument 'input' must be Tensor, not str"),
    ("ops", "a tensor plus a string", lambda: tg.ones(2) + "a", "Add: unsupported operand of type str (expected a Tensor or number)"),
    # -- nn
    ("nn", "Linear(0, -1)", lambda: nn.Linear(0, -1), "Trying to create tensor with negative dimension -1: [-1, 0]"),
    ("nn", "Linear(2.5, 2)", lambda: nn.Linear(2.5, 2), "empty(): argument 'size' must be a tuple of ints, but found element of type float at pos 1"),
    ("nn", "Linear given float64 input", lambda: nn.Linear(3, 2)(tg.ones(2, 3, dtype=tg.float64)), "linear: expected m1 and m2 to have the same dtype, but got: float64 != float32"),
    ("nn", "linear with a float64 bias", lambda: F.linear(tg.ones(2, 3), tg.ones(2, 3), tg.ones(2, dtype=tg.float64)), "linear: expected the bias to have the input's dtype, but got: float64 != float32"),
    ("nn", "Linear given a 0-d tensor", lambda: nn.Linear(3, 2)(tg.tensor(1.0)), "linear: the input needs at least 1 dimension (its features), got a 0-d tensor"),
    ("nn", "Embedding(-1, 3)", lambda: nn.Embedding(-1, 3), "Trying to create tensor with negative dimension -1: [-1, 3]"),
    ("nn", "Embedding given a list", lambda: nn.Embedding(3, 2)([0]), "embedding(): argument 'input' (the indices) must be Tensor, not list"),
    ("nn", "LayerNorm(2.5)", lambda: nn.LayerNorm(2.5), "LayerNorm: normalized_shape must be an int or a tuple of ints, got 2.5"),
    ("nn", "LayerNorm((2, 3)) on shape (3, 2)", lambda: nn.LayerNorm((2, 3))(tg.ones(3, 2)), "layer_norm: expected the input's trailing shape to be (2, 3), got (3, 2)"),
    ("nn", "Dropout(p=1.5)", lambda: nn.Dropout(1.5), "dropout probability has to be between 0 and 1, but got 1.5"),
    ("nn", "Dropout(p='a')", lambda: nn.Dropout("a"), "dropout probability has to be between 0 and 1, but got 'a'"),
    ("nn", "gelu(approximate='fast')", lambda: F.gelu(tg.ones(2), approximate="fast"), "gelu: approximate must be 'none' or 'tanh', got 'fast'"),
    ("nn", "cross_entropy(reduction='avg')", lambda: F.cross_entropy(tg.ones(2, 3), tg.tensor([0, 1]), reduction="avg"), "cross_entropy: reduction must be 'mean', 'sum' or 'none', got 'avg'"),
    ("nn", "cross_entropy(label_smoothing=1.5)", lambda: F.cross_entropy(tg.ones(2, 3), tg.tensor([0, 1]), label_smoothing=1.5), "label_smoothing must be between 0.0 and 1.0, got 1.5"),
    ("nn", "cross_entropy(label_smoothing=0.1)", lambda: F.cross_entropy(tg.ones(2, 3), tg.tensor([0, 1]), label_smoothing=0.1), "label smoothing is not supported (label_smoothing=0.1)"),
    ("nn", "cross_entropy of a 0-d input", lambda: F.cross_entropy(tg.tensor(1.0), tg.tensor(0)), "cross_entropy: the input needs a dimension of classes, got a 0-d tensor"),
    ("nn", "mse_loss(reduction='avg')", lambda: F.mse_loss(tg.ones(2), tg.ones(2), reduction="avg"), "avg is not a valid value for reduction"),
    ("nn", "nll_loss(reduction='avg')", lambda: F.nll_loss(tg.ones(2, 3), tg.tensor([0, 1]), reduction="avg"), "avg is not a valid value for reduction"),
    ("nn", "one_hot of -1", lambda: F.one_hot(tg.tensor([-1])), "one_hot: Class values must be non-negative."),
    ("nn", "one_hot of 3 with 2 classes", lambda: F.one_hot(tg.tensor([3]), 2), "one_hot: Class values must be smaller than num_classes (2)."),
    ("nn", "one_hot of a float tensor", lambda: F.one_hot(tg.tensor([1.0]), 3), "one_hot is only applicable to index tensor of type int64, got tinygrad_edu.float32"),
    ("nn", "load_state_dict without a key", lambda: nn.Linear(2, 2).load_state_dict({"weight": tg.ones(2, 2)}), "missing keys ['bias']"),
    ("nn", "load_state_dict with an extra key", lambda: nn.Linear(2, 2).load_state_dict({"weight": tg.ones(2, 2), "bias": tg.ones(2), "foo": tg.ones(1)}), "unexpected keys ['foo']"),
    ("nn", "load_state_dict with a wrong shape", lambda: nn.Linear(2, 2).load_state_dict({"weight": tg.ones(3, 2), "bias": tg.ones(2)}), "size mismatch for weight: checkpoint has shape (3, 2), the model has (2, 2)"),
    ("nn", "load_state_dict of a list", lambda: nn.Linear(2, 2).load_state_dict([1, 2]), "Expected state_dict to be dict-like, got list"),
    ("nn", "register_parameter of a plain tensor", lambda: _register_parameter(tg.ones(2)), "cannot assign 'Tensor' object to parameter 'w' (nn.Parameter or None required)"),
    ("nn", "a plain tensor assigned to Linear.weight", lambda: setattr(nn.Linear(2, 2), "weight", tg.ones(2, 2)), "cannot assign 'Tensor' as parameter 'weight' (nn.Parameter or None expected)"),
    ("nn", "register_buffer of a list", lambda: nn.Module().register_buffer("b", [1.0]), "register_buffer: 'b' must be a Tensor or None, got list"),
    ("nn", "register_buffer named 1", lambda: nn.Module().register_buffer(1, tg.ones(1)), "buffer name should be a string. Got int"),
    ("nn", "Sequential(3)", lambda: nn.Sequential(3), "int is not a Module subclass"),
    ("nn", "ModuleList item set to 3", lambda: nn.ModuleList([nn.Linear(1, 1)]).__setitem__(0, 3), "cannot assign 'int' as child module 0 (nn.Module or None expected)"),
    ("nn", "Sequential index out of range", lambda: nn.Sequential(nn.Linear(1, 1))[3], "index 3 is out of range for a container of 1 modules"),
    ("nn", "clip_grad_norm_(norm_type='fro')", lambda: _with_grad("fro"), "clip_grad_norm_: norm_type must be a number such as 2.0 or inf, got 'fro'"),
    ("nn", "clip_grad_norm_ of an inf gradient", lambda: _with_grad(2.0), "the total norm of gradients is inf"),
    ("nn", "kaiming_uniform_(mode='fan')", lambda: nn.init.kaiming_uniform_(tg.ones(3, 3), mode="fan"), "Mode fan not supported, please use one of ['fan_in', 'fan_out']"),
    ("nn", "kaiming_uniform_(nonlinearity='foo')", lambda: nn.init.kaiming_uniform_(tg.ones(3, 3), nonlinearity="foo"), "Unsupported nonlinearity 'foo'"),
    ("nn", "init.normal_ with std -1", lambda: nn.init.normal_(tg.ones(3), 0.0, -1.0), "normal_ expects std >= 0.0, but found std -1.0"),
    # -- optim
    ("optim", "SGD given a tensor, not a list", lambda: tg.optim.SGD(_leaf(2), lr=0.1), "params argument given to the optimizer should be an iterable of Tensors or dicts, but got tinygrad_edu.Tensor"),
    ("optim", "SGD([a * 2])", lambda: tg.optim.SGD([_leaf(2) * 2], lr=0.1), "can't optimize a non-leaf Tensor"),
    ("optim", "SGD([1.0])", lambda: tg.optim.SGD([1.0], lr=0.1), "optimizer can only optimize Tensors, but one of the params is float"),
    ("optim", "SGD of a tensor without grad", lambda: tg.optim.SGD([tg.ones(2)], lr=0.1), "optimizer can only optimize tensors that require grad"),
    ("optim", "a parameter in two groups", lambda: (lambda p: tg.optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1))(_leaf(2)), "some parameters appear in more than one parameter group"),
    ("optim", "SGD([])", lambda: tg.optim.SGD([], lr=0.1), "optimizer got an empty parameter list"),
    ("optim", "SGD(lr=-1)", lambda: tg.optim.SGD([_leaf(2)], lr=-1), "Invalid learning rate: -1"),
    ("optim", "SGD(lr='a')", lambda: tg.optim.SGD([_leaf(2)], lr="a"), "Invalid learning rate: 'a'"),
    ("optim", "SGD(momentum=-0.5)", lambda: tg.optim.SGD([_leaf(2)], lr=0.1, momentum=-0.5), "Invalid momentum value: -0.5"),
    ("optim", "SGD(weight_decay=-1)", lambda: tg.optim.SGD([_leaf(2)], lr=0.1, weight_decay=-1), "Invalid weight_decay value: -1"),
    ("optim", "a group with lr=-1", lambda: tg.optim.SGD([{"params": [_leaf(2)], "lr": -1}], lr=0.1), "Invalid learning rate: -1"),
    ("optim", "SGD(nesterov=True) without momentum", lambda: tg.optim.SGD([_leaf(2)], lr=0.1, nesterov=True), "Nesterov momentum requires a momentum and zero dampening"),
    ("optim", "Adam(betas=(1.5, 0.9))", lambda: tg.optim.Adam([_leaf(2)], betas=(1.5, 0.9)), "Invalid beta parameter at index 0: 1.5"),
    ("optim", "AdamW(betas=(0.9, 1.0))", lambda: tg.optim.AdamW([_leaf(2)], betas=(0.9, 1.0)), "Invalid beta parameter at index 1: 1.0"),
    ("optim", "Adam(betas=0.9)", lambda: tg.optim.Adam([_leaf(2)], betas=0.9), "betas must be a pair (beta1, beta2), got 0.9"),
    ("optim", "Adam(eps=-1)", lambda: tg.optim.Adam([_leaf(2)], eps=-1), "Invalid epsilon value: -1"),
    ("optim", "SGD(fused=True, foreach=True)", lambda: tg.optim.SGD([_leaf(2)], lr=0.1, fused=True, foreach=True), "`fused` and `foreach` cannot be `True` together."),
    ("optim", "Adam(fused=True, differentiable=True)", lambda: tg.optim.Adam([_leaf(2)], fused=True, differentiable=True), "`fused` does not support `differentiable`"),
    ("optim", "Adam(differentiable=True)", lambda: tg.optim.Adam([_leaf(2)], differentiable=True), "differentiable=True is not supported by tinygrad_edu: its optimizers update under no_grad()"),
    ("optim", "add_param_group of a list", lambda: _add_param_group([_leaf(2)]), "param_group must be a dict, but got list"),
    # -- autograd
    ("autograd", "a float64 .grad on a float32 tensor", lambda: _assign_grad(tg.ones(2, 3, dtype=tg.float64)), "assigned grad has data of a different type: attempting to assign a gradient with dtype tinygrad_edu.float64 to a tensor with dtype tinygrad_edu.float32"),
    ("autograd", "a .grad of the wrong shape", lambda: _assign_grad(tg.ones(3, 2)), "assigned grad has data of a different size: attempting to assign a gradient of size [3, 2] to a tensor of size [2, 3]"),
    ("autograd", "a list as .grad", lambda: _assign_grad([1.0]), "assigned grad expected to be a Tensor or None but got grad of type list"),
    ("autograd", "with no_grad: (no call)", _no_grad_without_call, "no_grad is a class: write `with no_grad():`, with the parentheses"),
    ("autograd", "set_grad_enabled('yes')", lambda: tg.set_grad_enabled("yes"), "set_grad_enabled(): argument 'mode' must be bool, not str"),
    ("autograd", "register_hook(3)", lambda: _leaf(2).register_hook(3), "register_hook expects a function of the gradient, got int"),
    ("autograd", "backward with a gradient of the wrong shape", lambda: (_leaf(2) * 2).backward(tg.ones(3)), "backward: gradient has shape (3,) but the output has shape (2,)"),
    ("autograd", "grad of an input that does not require grad", lambda: tg.autograd.grad((_leaf(2) * tg.ones(2)).sum(), tg.ones(2)), "does not require grad"),
    ("autograd", "grad of an input not used", lambda: tg.autograd.grad((_leaf(2) * 2).sum(), _leaf(2)), "was not used to compute the outputs; pass allow_unused=True if this is expected"),
    ("autograd", "grad of a non-scalar without grad_outputs", lambda: (lambda x: tg.autograd.grad(x * 2, x))(_leaf(2)), "grad can be created implicitly only for scalar outputs"),
    ("autograd", "retain_grad on a tensor without grad", lambda: tg.ones(2).retain_grad(), "can't retain_grad on a tensor that does not require grad"),
    ("autograd", "requires_grad_(False) on a non-leaf", lambda: (_leaf(2) * 2).requires_grad_(False), "requires_grad can only be switched off on a leaf tensor"),
]  # fmt: skip
