"""What runs inside a DataLoader worker process, and ``get_worker_info()``.

A worker takes ``(task number, indices)`` from its own index queue, fetches and collates those samples, and
puts ``(task number, batch)`` on the data queue that all workers share. The main process hands out the tasks
in turn (task k to worker k mod num_workers) and puts the batches back in task order."""

from __future__ import annotations

import os
import queue
import random
import sys
import traceback
from dataclasses import dataclass

import numpy

from ....factories import manual_seed

# How often (seconds) the main process, waiting for a batch, looks whether its workers are still alive.
STATUS_CHECK_INTERVAL = 5.0
# How often (seconds) an idle worker looks whether the loader is shutting down or the main process is gone. The
# main process also sends each worker a None to stop it, but from a garbage-collected iterator that message may
# never leave (its queue's sending thread is already finalized): the event is what a worker can always see.
WORKER_POLL_INTERVAL = 0.1


@dataclass(frozen=True)
class WorkerInfo:
    """What ``get_worker_info()`` tells code running in a worker: its ``id`` (0 .. num_workers - 1),
    ``num_workers``, its ``seed`` (the loader's base seed + id) and its own copy of the ``dataset``."""

    id: int
    num_workers: int
    seed: int
    dataset: object


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """This worker's ``WorkerInfo`` inside a DataLoader worker process; ``None`` in the main process."""
    return _worker_info


class ExceptionWrapper:
    """An exception raised in a worker, carried to the main process with its traceback as text (a traceback
    object cannot be pickled) and raised there again."""

    def __init__(self, where: str) -> None:
        exc_type, exc, tb = sys.exc_info()
        self.exc_type = exc_type
        self.message = "".join(traceback.format_exception(exc_type, exc, tb))
        self.where = where

    def reraise(self):
        message = f"Caught {self.exc_type.__name__} {self.where}.\nOriginal {self.message}"
        if self.exc_type is KeyError:  # KeyError prints its argument with repr: keep the text readable
            message = KeyErrorMessage(message)
        try:
            error = self.exc_type(message)
        except Exception:  # an exception type whose constructor wants other arguments
            raise RuntimeError(message) from None
        raise error


class KeyErrorMessage(str):
    def __repr__(self):
        return self


class IterableDatasetStopIteration:
    """A worker's message that its copy of the iterable dataset has run out."""

    def __init__(self, worker_id: int) -> None:
        self.worker_id = worker_id


class ResumeIteration:
    """The main process's message to a persistent worker: a new epoch begins, start the dataset again."""


class MapDatasetFetcher:
    def __init__(self, dataset, auto_collation: bool, collate_fn, drop_last: bool) -> None:
        self.dataset, self.auto_collation, self.collate_fn = dataset, auto_collation, collate_fn

    def fetch(self, index):
        if not self.auto_collation:
            return self.collate_fn(self.dataset[index])
        if callable(getattr(self.dataset, "__getitems__", None)):
            return self.collate_fn(self.dataset.__getitems__(index))
        return self.collate_fn([self.dataset[i] for i in index])


class IterableDatasetFetcher:
    """Reads the next sample (or the next ``len(index)`` samples: a batch) from ``iter(dataset)``."""

    def __init__(self, dataset, auto_collation: bool, collate_fn, drop_last: bool) -> None:
        self.dataset_iter = iter(dataset)
        self.auto_collation, self.collate_fn, self.drop_last = auto_collation, collate_fn, drop_last
        self.ended = False

    def fetch(self, index):
        if self.ended:
            raise StopIteration
        if not self.auto_collation:
            return self.collate_fn(next(self.dataset_iter))
        batch = []
        for _ in index:
            try:
                batch.append(next(self.dataset_iter))
            except StopIteration:
                self.ended = True
                break
        if len(batch) == 0 or (self.drop_last and len(batch) < len(index)):
            raise StopIteration
        return self.collate_fn(batch)


def make_fetcher(is_iterable: bool, dataset, auto_collation: bool, collate_fn, drop_last: bool):
    fetcher_class = IterableDatasetFetcher if is_iterable else MapDatasetFetcher
    return fetcher_class(dataset, auto_collation, collate_fn, drop_last)


def seed_worker(base_seed: int, worker_id: int) -> int:
    """Seed everything random in a worker, as PyTorch's workers are seeded, and return the worker's seed.

    Python's ``random`` and the engine's generators get ``base_seed + worker_id``. NumPy's global generator gets
    four words that NumPy's own ``SeedSequence`` mixes from (worker id, the base seed's low and high 32 bits, 0):
    the words PyTorch gives it. Workers forked with the same states thus draw different numbers, and the same
    numbers as PyTorch's workers after the same ``manual_seed``."""
    seed = base_seed + worker_id
    random.seed(seed)
    manual_seed(seed)
    entropy = [worker_id, base_seed & 0xFFFFFFFF, base_seed >> 32, 0]
    numpy.random.seed(numpy.random.SeedSequence(entropy).generate_state(4))
    return seed


def worker_loop(
    is_iterable, dataset, index_queue, data_queue, done_event, auto_collation, collate_fn, drop_last,
    base_seed, init_fn, worker_id, num_workers,
):  # fmt: skip
    global _worker_info
    parent = os.getppid()
    seed = seed_worker(base_seed, worker_id)
    _worker_info = WorkerInfo(id=worker_id, num_workers=num_workers, seed=seed, dataset=dataset)
    init_error = None
    fetcher = None
    try:
        if init_fn is not None:
            init_fn(worker_id)
        fetcher = make_fetcher(is_iterable, dataset, auto_collation, collate_fn, drop_last)
    except Exception:
        init_error = ExceptionWrapper(f"in DataLoader worker process {worker_id}")
    iteration_end = False
    while True:
        try:
            task = index_queue.get(timeout=WORKER_POLL_INTERVAL)
        except queue.Empty:
            if done_event.is_set() or os.getppid() != parent:  # nobody will read what this worker makes
                data_queue.cancel_join_thread()  # exit now, without waiting to flush unread batches
                return
            continue
        if task is None:  # the main process asks the worker to stop
            return
        if isinstance(task, ResumeIteration):
            data_queue.put((task, None))
            iteration_end = False
            if init_error is None:
                fetcher = make_fetcher(is_iterable, dataset, auto_collation, collate_fn, drop_last)
            continue
        if done_event.is_set() or iteration_end:
            continue
        task_number, index = task
        if init_error is not None:
            data, init_error = init_error, None
        else:
            try:
                data = fetcher.fetch(index)
            except StopIteration:
                if not is_iterable:
                    data = ExceptionWrapper(f"in DataLoader worker process {worker_id}")
                else:
                    data = IterableDatasetStopIteration(worker_id)
                    iteration_end = True
            except Exception:
                data = ExceptionWrapper(f"in DataLoader worker process {worker_id}")
        data_queue.put((task_number, data))
