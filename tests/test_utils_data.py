"""tinygrad_edu.utils.data against torch.utils.data: collation, samplers, splits and the DataLoader, with and
without worker processes."""

from __future__ import annotations

import collections
import os
import time
import warnings

import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_edu
from tinygrad_edu.utils import data
from tinygrad_edu.utils.data import (
    BatchSampler,
    ConcatDataset,
    DataLoader,
    Dataset,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    default_collate,
    get_worker_info,
    random_split,
)
from tinygrad_edu.utils.data.dataloader import default_convert

Point = collections.namedtuple("Point", ["x", "y"])


def plain(x):
    """A batch of either library as Python values, tensors as (dtype name, values), to compare the two."""
    if hasattr(x, "tolist") and hasattr(x, "dtype") and not isinstance(x, numpy.ndarray):
        return ("tensor", str(x.dtype).rpartition(".")[2], tuple(x.shape), x.tolist())
    if isinstance(x, dict):
        return {k: plain(v) for k, v in x.items()}
    if isinstance(x, tuple):
        return (type(x).__name__, [plain(v) for v in x])
    if isinstance(x, list):
        return [plain(v) for v in x]
    return x


def to_torch(x, torch):
    """The same sample with our tensors made PyTorch's."""
    if isinstance(x, tinygrad_edu.Tensor):
        return torch.tensor(x.tolist(), dtype=getattr(torch, str(x.dtype).rpartition(".")[2]))
    if isinstance(x, dict):
        return {k: to_torch(v, torch) for k, v in x.items()}
    if isinstance(x, Point):
        return Point(*(to_torch(v, torch) for v in x))
    if isinstance(x, (list, tuple)):
        return type(x)(to_torch(v, torch) for v in x)
    return x


def seeded_generator(seed: int):
    return tinygrad_edu.Generator().manual_seed(seed)


SAMPLES = {
    "tensors": [tinygrad_edu.tensor([1.0, 2.0]), tinygrad_edu.tensor([3.0, 4.0])],
    "int tensors": [tinygrad_edu.tensor(1), tinygrad_edu.tensor(2)],
    "floats": [0.5, 1.5, 2.5],
    "ints": [1, 2, 3],
    "bools": [True, False],
    "strings": ["a", "bc"],
    "numpy arrays": [numpy.arange(3, dtype=numpy.float32), numpy.ones(3, dtype=numpy.float32)],
    "numpy int64": [numpy.arange(2), numpy.arange(2) + 5],
    "numpy scalars": [numpy.float64(1.5), numpy.float64(2.5)],
    "numpy float32 scalars": [numpy.float32(1.5), numpy.float32(2.5)],
    "dicts": [{"x": 1.0, "label": "a"}, {"x": 2.0, "label": "b"}],
    "tuples": [(tinygrad_edu.tensor([1.0]), 0), (tinygrad_edu.tensor([2.0]), 1)],
    "lists": [[1, 2.0], [3, 4.0]],
    "namedtuples": [Point(1, 2.0), Point(3, 4.0)],
    "nested": [{"p": (1, [2.0, 3.0])}, {"p": (4, [5.0, 6.0])}],
}


@pytest.mark.parametrize("name", SAMPLES)
def test_default_collate_matches_pytorch(name, torch):
    from torch.utils.data import default_collate as torch_collate

    batch = SAMPLES[name]
    assert plain(default_collate(batch)) == plain(torch_collate(to_torch(batch, torch)))


@pytest.mark.parametrize("name", SAMPLES)
def test_default_convert_matches_pytorch(name, torch):
    from torch.utils.data import default_convert as torch_convert

    sample = SAMPLES[name][0]
    assert plain(default_convert(sample)) == plain(torch_convert(to_torch(sample, torch)))


def test_default_collate_keeps_the_mapping_type_and_rejects_what_it_cannot_batch():
    ordered = default_collate([collections.OrderedDict(a=1), collections.OrderedDict(a=2)])
    assert type(ordered) is collections.OrderedDict and ordered["a"].tolist() == [1, 2]
    with pytest.raises(RuntimeError, match="each element in list of batch should be of equal size"):
        default_collate([[1, 2], [3]])
    with pytest.raises(TypeError, match="batch must contain tensors, numpy arrays, numbers, dicts or lists"):
        default_collate([object(), object()])
    with pytest.raises(TypeError, match="batch must contain tensors"):
        default_collate([numpy.array(["a"]), numpy.array(["b"])])


@given(n=st.integers(1, 40), batch_size=st.integers(1, 12), drop_last=st.booleans())
def test_batch_sampler_and_its_length_match_pytorch(n, batch_size, drop_last):
    torch = pytest.importorskip("torch")
    ours = BatchSampler(SequentialSampler(range(n)), batch_size, drop_last)
    theirs = torch.utils.data.BatchSampler(torch.utils.data.SequentialSampler(range(n)), batch_size, drop_last)
    assert list(ours) == list(theirs)
    assert len(ours) == len(theirs) == len(list(ours))


@given(n=st.integers(1, 30), num_samples=st.none() | st.integers(1, 70), replacement=st.booleans())
def test_random_sampler_draws_what_it_should(n, num_samples, replacement):
    sampler = RandomSampler(range(n), replacement=replacement, num_samples=num_samples)
    drawn = list(sampler)
    assert len(drawn) == len(sampler) == (num_samples or n)
    assert all(0 <= i < n for i in drawn)
    if not replacement:  # whole permutations, then part of one: no index more than once in each n
        for start in range(0, len(drawn), n):
            chunk = drawn[start : start + n]
            assert len(set(chunk)) == len(chunk)
        if num_samples is None:
            assert sorted(drawn) == list(range(n))


def test_samplers_with_a_seeded_generator_repeat_and_differ_between_epochs():
    for make in (
        lambda g: RandomSampler(range(50), generator=g),
        lambda g: RandomSampler(range(50), replacement=True, num_samples=70, generator=g),
        lambda g: SubsetRandomSampler(list(range(10, 60)), generator=g),
        lambda g: WeightedRandomSampler([1.0] * 50, 50, generator=g),
    ):
        first, second = make(seeded_generator(3)), make(seeded_generator(3))
        epoch1, epoch2 = list(first), list(first)
        assert epoch1 == list(second) and epoch2 == list(second)
        assert epoch1 != epoch2


def test_manual_seed_fixes_the_shuffle_of_a_sampler_without_generator():
    tinygrad_edu.manual_seed(7)
    a = [list(RandomSampler(range(30))) for _ in range(2)]
    tinygrad_edu.manual_seed(7)
    b = [list(RandomSampler(range(30))) for _ in range(2)]
    assert a == b and a[0] != a[1]


def test_subset_and_weighted_samplers():
    indices = [3, 9, 27, 81]
    assert sorted(SubsetRandomSampler(indices)) == indices and len(SubsetRandomSampler(indices)) == 4
    drawn = list(WeightedRandomSampler([0.0, 1.0, 0.0, 3.0], 200))
    assert set(drawn) <= {1, 3} and drawn.count(3) > drawn.count(1)
    once = list(WeightedRandomSampler([1.0, 2.0, 3.0, 4.0], 4, replacement=False))
    assert sorted(once) == [0, 1, 2, 3]


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda m: m.RandomSampler(range(3), replacement=1), TypeError, "replacement should be a boolean value"),
        (lambda m: m.RandomSampler(range(3), num_samples=0), ValueError, "num_samples should be a positive integer"),
        (lambda m: m.RandomSampler([]), ValueError, "num_samples should be a positive integer"),
        (lambda m: m.WeightedRandomSampler([1.0], 0), ValueError, "num_samples should be a positive integer"),
        (lambda m: m.WeightedRandomSampler([[1.0]], 1), ValueError, "weights should be a 1d sequence"),
        (lambda m: m.BatchSampler(range(3), 0, False), ValueError, "batch_size should be a positive integer"),
        (lambda m: m.BatchSampler(range(3), 2, 1), ValueError, "drop_last should be a boolean value"),
        (lambda m: m.ConcatDataset([]), AssertionError, "datasets should not be an empty iterable"),
    ],
)
def test_bad_sampler_and_dataset_arguments_fail_as_in_pytorch(make, error, message, torch):
    with pytest.raises(error, match=message):
        make(data)
    with pytest.raises(error, match=message):
        make(torch.utils.data)


@pytest.mark.parametrize(
    "make",
    [
        lambda m, g: m.RandomSampler(range(37), generator=g),
        lambda m, g: m.RandomSampler(range(37), num_samples=80, generator=g),
        lambda m, g: m.RandomSampler(range(37), replacement=True, num_samples=70, generator=g),
        lambda m, g: m.SubsetRandomSampler([5, 7, 11, 13, 17], generator=g),
        lambda m, g: m.WeightedRandomSampler([0.1, 0.9, 0.4, 0.7, 3.0, 0.6], 5, replacement=False, generator=g),
    ],
)
def test_seeded_samplers_draw_pytorchs_indices(make, torch):
    theirs = torch.Generator().manual_seed(5)
    assert list(make(data, seeded_generator(5))) == list(make(torch.utils.data, theirs))


def test_shuffling_after_manual_seed_matches_pytorch_epoch_after_epoch(torch):
    torch.manual_seed(11)
    tinygrad_edu.manual_seed(11)
    ours = DataLoader(list(range(23)), batch_size=5, shuffle=True)
    theirs = torch.utils.data.DataLoader(list(range(23)), batch_size=5, shuffle=True)
    for _ in range(3):
        assert [b.tolist() for b in ours] == [b.tolist() for b in theirs]
    split = random_split(range(10), [0.5, 0.5])
    assert [list(s) for s in split] == [list(s) for s in torch.utils.data.random_split(range(10), [0.5, 0.5])]
    split = random_split(range(10), [3, 7], generator=seeded_generator(0))
    theirs = torch.utils.data.random_split(range(10), [3, 7], generator=torch.Generator().manual_seed(0))
    assert [list(s) for s in split] == [list(s) for s in theirs]


@given(n=st.integers(0, 30), fractions=st.lists(st.integers(1, 10), min_size=1, max_size=4))
def test_random_split_lengths_match_pytorch_and_cover_the_dataset(n, fractions):
    torch = pytest.importorskip("torch")
    total = sum(fractions)
    fractions = [f / total for f in fractions]
    if not numpy.isclose(sum(fractions), 1) or sum(fractions) > 1:
        fractions[-1] = 1 - sum(fractions[:-1])  # rounding: a sum just over 1 would count as lengths
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a split of length 0 warns in both
        ours = random_split(range(n), fractions)
        theirs = torch.utils.data.random_split(range(n), fractions)
    assert [len(s) for s in ours] == [len(s) for s in theirs]
    assert sorted(i for s in ours for i in s) == list(range(n))


def test_random_split_with_counts_a_generator_and_bad_lengths():
    a = random_split(range(10), [3, 7], generator=seeded_generator(1))
    b = random_split(range(10), [3, 7], generator=seeded_generator(1))
    assert [list(s) for s in a] == [list(s) for s in b] and [len(s) for s in a] == [3, 7]
    with pytest.raises(ValueError, match="Sum of input lengths does not equal the length of the input dataset"):
        random_split(range(10), [3, 8])
    with pytest.raises(ValueError, match="Fraction at index 2 is not between 0 and 1"):
        random_split(range(10), [0.5, 0.7, -0.2])
    with pytest.warns(UserWarning, match="Length of split at index 1 is 0"):
        random_split(range(1), [0.5, 0.5])


def test_tensor_subset_and_concat_datasets(torch):
    x, y = tinygrad_edu.arange(12.0).reshape(6, 2), tinygrad_edu.arange(6)
    ds = TensorDataset(x, y)
    assert len(ds) == 6 and [t.tolist() for t in ds[2]] == [[4.0, 5.0], 2]
    with pytest.raises(AssertionError, match="Size mismatch between tensors"):
        TensorDataset(x, tinygrad_edu.arange(5))
    sub = Subset(ds, [4, 0])
    assert len(sub) == 2 and sub[0][1].item() == 4
    both = ds + Subset(ds, [1])
    theirs = torch.utils.data.ConcatDataset([list(range(6)), [1]])
    assert isinstance(both, ConcatDataset) and len(both) == len(theirs) == 7
    assert [both[i][1].item() for i in range(-7, 7)] == [theirs[i] for i in range(-7, 7)]
    with pytest.raises(ValueError, match="absolute value of index should not exceed dataset length"):
        both[-8]
    with pytest.raises(AssertionError, match="ConcatDataset does not support IterableDataset"):
        ConcatDataset([Stream(3)])


class Stream(IterableDataset):
    """0 .. n-1, split between the workers by get_worker_info (of the library given)."""

    def __init__(self, n, worker_info=get_worker_info):
        self.n, self.worker_info = n, worker_info

    @staticmethod
    def for_torch(torch):
        """The same stream as PyTorch's IterableDataset (its DataLoader reads it as a stream only then)."""
        return type("TorchStream", (torch.utils.data.IterableDataset,), dict(Stream.__dict__))

    def __iter__(self):
        info = self.worker_info()
        if info is None:
            return iter(range(self.n))
        return iter(range(info.id, self.n, info.num_workers))

    def __len__(self):
        return self.n


class Recorder(Dataset):
    """Item i is (i, the id of the worker that read it, its pid)."""

    def __init__(self, n, worker_info=get_worker_info):
        self.n, self.worker_info = n, worker_info

    def __getitem__(self, i):
        info = self.worker_info()
        return i, -1 if info is None else info.id, os.getpid()

    def __len__(self):
        return self.n


def loader_pairs(torch, dataset_class, n, **kwargs):
    ours = DataLoader(dataset_class(n), **kwargs)
    torch_class = dataset_class.for_torch(torch) if dataset_class is Stream else dataset_class
    theirs = torch.utils.data.DataLoader(torch_class(n, torch.utils.data.get_worker_info), **kwargs)
    return ours, theirs


@pytest.mark.parametrize(
    "kwargs",
    [
        {"batch_size": 4},
        {"batch_size": 4, "drop_last": True},
        {"batch_size": None},
        {"batch_size": 3, "num_workers": 2},
        {"batch_size": 2, "num_workers": 3, "prefetch_factor": 1},
        {"batch_size": None, "num_workers": 2},
        {"batch_size": 4, "num_workers": 2, "drop_last": True},
    ],
    ids=str,
)
@pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")  # PyTorch's, on 2-core machines
def test_batches_and_the_worker_that_made_each_match_pytorch(kwargs, torch):
    ours, theirs = loader_pairs(torch, Recorder, 11, **kwargs)
    ours_batches = [plain(b[:2]) for b in ours]
    assert ours_batches == [plain(b[:2]) for b in theirs]
    assert len(ours) == len(theirs) == len(ours_batches)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"batch_size": 2},
        {"batch_size": 2, "num_workers": 3},
        {"batch_size": 2, "num_workers": 3, "drop_last": True},
        {"batch_size": None, "num_workers": 2},
    ],
    ids=str,
)
@pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")
def test_iterable_datasets_with_workers_match_pytorch(kwargs, torch):
    ours, theirs = loader_pairs(torch, Stream, 10, **kwargs)
    assert [plain(b) for b in ours] == [plain(b) for b in theirs]
    assert len(ours) == len(theirs)


def test_a_batch_sampler_and_a_collate_fn(torch):
    batches = [[3, 1], [0], [2, 4]]
    ours = DataLoader(list(range(10, 15)), batch_sampler=batches, collate_fn=lambda b: sum(b))
    assert list(ours) == [24, 10, 26] and len(ours) == 3


def init_records_seed(worker_id):
    info = get_worker_info()
    assert info.id == worker_id
    info.dataset.seeds[worker_id] = info.seed  # the worker's own copy of the dataset


class SeedEcho(Dataset):
    def __init__(self):
        self.seeds = {}

    def __getitem__(self, i):
        info = get_worker_info()
        return info.id, self.seeds[info.id], info.num_workers

    def __len__(self):
        return 6


def test_worker_init_fn_and_worker_info():
    assert get_worker_info() is None
    loader = DataLoader(SeedEcho(), batch_size=None, num_workers=3, worker_init_fn=init_records_seed)
    rows = list(loader)  # batch_size=None: each sample as it is, its tuple made a list by default_convert
    assert [r[0] for r in rows] == [0, 1, 2, 0, 1, 2] and all(r[2] == 3 for r in rows)
    seeds = {r[0]: r[1] for r in rows}
    assert seeds[1] == seeds[0] + 1 and seeds[2] == seeds[0] + 2  # base seed + worker id


def test_persistent_workers_stay_between_epochs():
    loader = DataLoader(Recorder(6), batch_size=2, num_workers=2, persistent_workers=True)
    epochs = [[(b[0].tolist(), b[2].tolist()[0]) for b in loader] for _ in range(2)]
    assert [e[0] for e in epochs[0]] == [e[0] for e in epochs[1]] == [[0, 1], [2, 3], [4, 5]]
    assert [e[1] for e in epochs[0]] == [e[1] for e in epochs[1]]  # the same processes
    assert os.getpid() not in {e[1] for e in epochs[0]}


class Fails(Dataset):
    def __getitem__(self, i):
        if i == 3:
            raise ValueError("item 3 is broken")
        return i

    def __len__(self):
        return 6


class Slow(Dataset):
    def __getitem__(self, i):
        time.sleep(1)
        return i

    def __len__(self):
        return 2


def test_a_worker_error_reaches_the_loop_with_its_traceback_and_timeout_raises():
    with pytest.raises(ValueError, match="(?s)Caught ValueError in DataLoader worker process 1.*item 3 is broken"):
        list(DataLoader(Fails(), batch_size=None, num_workers=2))
    with pytest.raises(ZeroDivisionError, match="Caught ZeroDivisionError in DataLoader worker process 0"):
        list(DataLoader(list(range(4)), num_workers=1, worker_init_fn=lambda worker_id: 1 / worker_id))
    with pytest.raises(RuntimeError, match="DataLoader timed out after 0.2 seconds"):
        list(DataLoader(Slow(), num_workers=1, timeout=0.2))


def test_pin_memory_warns_and_changes_nothing():
    with pytest.warns(UserWarning, match="pinned memory won't be used"):
        loader = DataLoader(list(range(4)), batch_size=2, pin_memory=True)
    assert [b.tolist() for b in loader] == [[0, 1], [2, 3]]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_workers": -1}, "num_workers option should be non-negative"),
        ({"timeout": -1}, "timeout option should be non-negative"),
        ({"prefetch_factor": 2}, "prefetch_factor option could only be specified in multiprocessing"),
        ({"persistent_workers": True}, "persistent_workers option needs num_workers > 0"),
        ({"sampler": [0, 1], "shuffle": True}, "sampler option is mutually exclusive with shuffle"),
        ({"batch_sampler": [[0]], "batch_size": 2}, "batch_sampler option is mutually exclusive with batch_size"),
        ({"batch_size": None, "drop_last": True}, "batch_size=None option disables auto-batching"),
    ],
)
def test_bad_loader_arguments_fail_as_in_pytorch(kwargs, message, torch):
    with pytest.raises(ValueError, match=message):
        DataLoader(list(range(4)), **kwargs)
    with pytest.raises(ValueError, match=message):
        torch.utils.data.DataLoader(list(range(4)), **kwargs)


@pytest.mark.parametrize("kwargs", [{"shuffle": True}, {"sampler": [0]}, {"batch_sampler": [[0]], "batch_size": 1}])
def test_iterable_datasets_refuse_samplers_and_shuffle(kwargs, torch):
    with pytest.raises(ValueError, match="DataLoader with IterableDataset: expected unspecified") as ours:
        DataLoader(Stream(3), **kwargs)
    with pytest.raises(ValueError) as theirs:
        torch.utils.data.DataLoader(Stream.for_torch(torch)(3), **kwargs)
    assert str(ours.value) == str(theirs.value)


def test_loader_attributes_are_fixed_after_init():
    loader = DataLoader(list(range(4)), batch_size=2)
    with pytest.raises(ValueError, match="batch_size attribute should not be set after DataLoader is initialized"):
        loader.batch_size = 3
    loader.num_workers = 0  # others may change, as in PyTorch


def test_a_training_loop_reads_like_pytorchs():
    assert tinygrad_edu.utils.data.DataLoader is DataLoader  # torch.utils.data.DataLoader after import ... as torch
    x = tinygrad_edu.randn(32, 3)
    y = x @ tinygrad_edu.tensor([[1.0], [-2.0], [0.5]])
    model = tinygrad_edu.nn.Linear(3, 1)
    opt = tinygrad_edu.optim.SGD(model.parameters(), lr=0.1)
    loader = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True, generator=seeded_generator(0))
    for _ in range(20):
        for xb, yb in loader:
            loss = ((model(xb) - yb) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    assert ((model(x) - y) ** 2).mean().item() < 1e-3


class Draws(Dataset):
    """Item i: the worker's seed and one number from each of the library's, Python's and NumPy's generators."""

    def __init__(self, library, worker_info):
        self.library, self.worker_info = library, worker_info

    def __getitem__(self, i):
        import random

        seed = self.worker_info().seed
        return seed, self.library.rand(()).item(), random.random(), float(numpy.random.rand())

    def __len__(self):
        return 6


@pytest.mark.parametrize(("shuffle", "persistent_workers"), [(False, False), (True, False), (True, True)])
def test_workers_are_seeded_and_draw_as_pytorchs_after_manual_seed(shuffle, persistent_workers, torch):
    """The base seed is drawn from the global generator as PyTorch draws it, before the shuffle's own seed; each
    worker's generators are then seeded as PyTorch's workers'."""
    tinygrad_edu.manual_seed(21)
    torch.manual_seed(21)
    kwargs = {"batch_size": 2, "num_workers": 2, "shuffle": shuffle, "persistent_workers": persistent_workers}
    ours = DataLoader(Draws(tinygrad_edu, get_worker_info), **kwargs)
    theirs = torch.utils.data.DataLoader(Draws(torch, torch.utils.data.get_worker_info), **kwargs)
    for _ in range(2):
        assert [[c.tolist() for c in b] for b in ours] == [[c.tolist() for c in b] for b in theirs]
