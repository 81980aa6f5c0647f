"""``DataLoader``: batches from a dataset, in the main process or in worker processes (in order).

Worker processes each get a copy of the dataset (fork where available), are
seeded with ``base_seed + worker_id`` (``base_seed`` drawn from the loader's
generator, or ember's default generator, at the start of every epoch), and
return batches that the main process puts back in sampler order.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import random
import traceback
from dataclasses import dataclass

from ._collate import default_collate, default_convert
from .dataset import IterableDataset
from .sampler import BatchSampler, RandomSampler, SequentialSampler, _seed_from

_POLL_S = 1.0


@dataclass
class WorkerInfo:
    id: int
    num_workers: int
    seed: int
    dataset: object


_worker_info = None


def get_worker_info():
    """In a worker process: its ``WorkerInfo(id, num_workers, seed, dataset)``; in the main process: None."""
    return _worker_info


class _ExceptionWrapper:
    def __init__(self, exc, where):
        self.exc_type = type(exc)
        self.exc_msg = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self.where = where

    def reraise(self):
        msg = f"Caught {self.exc_type.__name__} {self.where}.\nOriginal {self.exc_msg}"
        if self.exc_type is KeyError:
            msg = KeyError(msg)
        try:
            err = self.exc_type(msg)
        except Exception:
            raise RuntimeError(msg) from None
        raise err


class _StopMarker:
    def __init__(self, worker_id):
        self.worker_id = worker_id


def _fetch(dataset, index, auto_collation, collate_fn):
    if auto_collation:
        getitems = getattr(dataset, "__getitems__", None)
        data = getitems(index) if callable(getitems) else [dataset[i] for i in index]
    else:
        data = dataset[index]
    return collate_fn(data)


def _worker_loop(
    dataset, index_queue, result_queue, worker_id, num_workers, seed, init_fn, auto_collation, collate_fn, batch_size
):
    global _worker_info
    import numpy as np

    from ...random import manual_seed

    random.seed(seed)
    manual_seed(seed)
    np.random.seed(seed % (1 << 32))
    _worker_info = WorkerInfo(worker_id, num_workers, seed, dataset)
    init_error = None
    try:
        if init_fn is not None:
            init_fn(worker_id)
    except Exception as e:
        init_error = _ExceptionWrapper(e, f"in DataLoader worker process {worker_id}")
    iterable = isinstance(dataset, IterableDataset)
    it, it_epoch, exhausted = None, None, False
    while True:
        try:
            task = index_queue.get(timeout=_POLL_S)
        except queue.Empty:
            if os.getppid() == 1:  # the main process is gone
                return
            continue
        if task is None:
            return
        idx, epoch, index = task
        if init_error is not None:
            result_queue.put((idx, init_error))
            continue
        try:
            if iterable:
                if epoch != it_epoch:
                    it, it_epoch, exhausted = iter(dataset), epoch, False
                if exhausted:
                    data = _StopMarker(worker_id)
                else:
                    try:
                        if auto_collation:
                            items = []
                            for _ in range(batch_size):
                                items.append(next(it))
                            data = collate_fn(items)
                        else:
                            data = collate_fn(next(it))
                    except StopIteration:
                        exhausted = True
                        data = collate_fn(items) if auto_collation and items else _StopMarker(worker_id)
            else:
                data = _fetch(dataset, index, auto_collation, collate_fn)
        except Exception as e:
            data = _ExceptionWrapper(e, f"in DataLoader worker process {worker_id}")
        result_queue.put((idx, data))
        del data


class _WorkerPool:
    """The worker processes, their index queues and the shared result queue."""

    def __init__(self, loader, base_seed):
        ctx = loader.multiprocessing_context
        if ctx is None:
            ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
        elif isinstance(ctx, str):
            ctx = mp.get_context(ctx)
        self.num_workers = loader.num_workers
        self.result_queue = ctx.Queue()
        self.index_queues, self.workers = [], []
        for wid in range(self.num_workers):
            iq = ctx.Queue()
            w = ctx.Process(
                target=_worker_loop,
                args=(
                    loader.dataset,
                    iq,
                    self.result_queue,
                    wid,
                    self.num_workers,
                    base_seed + wid,
                    loader.worker_init_fn,
                    loader._auto_collation,
                    loader.collate_fn,
                    loader.batch_size,
                ),
                daemon=True,
            )
            w.start()
            self.index_queues.append(iq)
            self.workers.append(w)
        self.alive = True

    def get(self, timeout):
        waited = 0.0
        while True:
            try:
                return self.result_queue.get(timeout=_POLL_S if not timeout else min(_POLL_S, timeout))
            except queue.Empty:
                waited += _POLL_S
                dead = [w for w in self.workers if not w.is_alive()]
                if dead:
                    pids = ", ".join(str(w.pid) for w in dead)
                    self.shutdown()
                    raise RuntimeError(f"DataLoader worker (pid(s) {pids}) exited unexpectedly") from None
                if timeout and waited >= timeout:
                    self.shutdown()
                    raise RuntimeError(f"DataLoader timed out after {timeout} seconds") from None

    def shutdown(self):
        if not self.alive:
            return
        self.alive = False
        for iq in self.index_queues:
            try:
                iq.put(None)
            except Exception:
                pass
        for w in self.workers:
            w.join(timeout=5)
            if w.is_alive():
                w.terminate()
        for q in [*self.index_queues, self.result_queue]:
            q.cancel_join_thread()
            q.close()

    def __del__(self):
        try:
            self.shutdown()
        except Exception:
            pass


class _SingleProcessIter:
    def __init__(self, loader):
        self._loader = loader
        self._base_seed = _seed_from(loader.generator)
        self._auto = loader._auto_collation
        if loader._iterable:
            self._data_iter = iter(loader.dataset)
            self._sampler_iter = None
        else:
            self._sampler_iter = iter(loader._index_sampler)

    def __iter__(self):
        return self

    def __len__(self):
        return len(self._loader)

    def __next__(self):
        loader = self._loader
        if loader._iterable:
            if self._auto:
                items = []
                for x in self._data_iter:
                    items.append(x)
                    if len(items) == loader.batch_size:
                        break
                if not items or (loader.drop_last and len(items) < loader.batch_size):
                    raise StopIteration
                return loader.collate_fn(items)
            return loader.collate_fn(next(self._data_iter))
        index = next(self._sampler_iter)
        return _fetch(loader.dataset, index, self._auto, loader.collate_fn)


class _MultiProcessIter:
    def __init__(self, loader):
        self._loader = loader
        base_seed = _seed_from(loader.generator)
        pool = loader._pool if loader.persistent_workers else None
        if pool is None or not pool.alive:
            pool = _WorkerPool(loader, base_seed)
            if loader.persistent_workers:
                loader._pool = pool
        self._pool = pool
        loader._epoch += 1
        self._epoch = loader._epoch
        self._sampler_iter = None if loader._iterable else iter(loader._index_sampler)
        self._active = [True] * pool.num_workers
        self._next_worker = 0
        self._send_idx = 0
        self._rcvd_idx = 0
        self._task_worker = {}
        self._cache = {}
        self._done = False
        for _ in range(loader.prefetch_factor * pool.num_workers):
            self._try_put()

    def __iter__(self):
        return self

    def __len__(self):
        return len(self._loader)

    def _try_put(self):
        if self._done or not any(self._active):
            return
        if self._sampler_iter is not None:
            try:
                index = next(self._sampler_iter)
            except StopIteration:
                self._done = True
                return
        else:
            index = None
        n = self._pool.num_workers
        for _ in range(n):
            wid = self._next_worker
            self._next_worker = (self._next_worker + 1) % n
            if self._active[wid]:
                break
        self._pool.index_queues[wid].put((self._send_idx, self._epoch, index))
        self._task_worker[self._send_idx] = wid
        self._send_idx += 1

    def __next__(self):
        loader = self._loader
        while True:
            while self._rcvd_idx < self._send_idx and self._task_worker.get(self._rcvd_idx) is None:
                self._rcvd_idx += 1  # a task of a worker that has run out (iterable datasets)
            if self._rcvd_idx >= self._send_idx:
                self._finish()
                raise StopIteration
            if self._rcvd_idx in self._cache:
                data = self._cache.pop(self._rcvd_idx)
            else:
                idx, data = self._pool.get(loader.timeout)
                if idx != self._rcvd_idx:
                    self._cache[idx] = data
                    continue
            self._task_worker.pop(self._rcvd_idx, None)
            self._rcvd_idx += 1
            if isinstance(data, _StopMarker):
                self._active[data.worker_id] = False
                # later tasks already sent to this worker will come back as markers too
                continue
            if isinstance(data, _ExceptionWrapper):
                self._finish()
                data.reraise()
            self._try_put()
            if loader._iterable and loader.drop_last and loader._auto_collation:
                if _batch_len(data) < loader.batch_size:
                    continue
            return data

    def _finish(self):
        if not self._loader.persistent_workers and self._pool is not None:
            self._pool.shutdown()
        self._done = True

    def __del__(self):
        try:
            if not self._loader.persistent_workers:
                self._pool.shutdown()
        except Exception:
            pass


def _batch_len(data):
    from ...tensor import Tensor

    while isinstance(data, (list, tuple, dict)):
        if not data:
            return 0
        data = next(iter(data.values())) if isinstance(data, dict) else data[0]
    return len(data) if isinstance(data, Tensor) else 0


class DataLoader:
    """Iterate a dataset in batches (PyTorch's ``DataLoader``)."""

    def __init__(
        self,
        dataset,
        batch_size=1,
        shuffle=None,
        sampler=None,
        batch_sampler=None,
        num_workers=0,
        collate_fn=None,
        pin_memory=False,
        drop_last=False,
        timeout=0,
        worker_init_fn=None,
        multiprocessing_context=None,
        generator=None,
        *,
        prefetch_factor=None,
        persistent_workers=False,
        pin_memory_device="",
        in_order=True,
    ):
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError(
                "prefetch_factor option could only be specified in multiprocessing.let num_workers > 0 to enable "
                "multiprocessing, otherwise set prefetch_factor to None."
            )
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
        self.dataset = dataset
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.persistent_workers = persistent_workers
        self.in_order = in_order
        self.generator = generator
        self._iterable = isinstance(dataset, IterableDataset)
        if self._iterable:
            if shuffle not in (False, None):
                raise ValueError(
                    f"DataLoader with IterableDataset: expected unspecified shuffle option, but got shuffle={shuffle}"
                )
            if sampler is not None:
                raise ValueError(
                    f"DataLoader with IterableDataset: expected unspecified sampler option, but got sampler={sampler}"
                )
            if batch_sampler is not None:
                raise ValueError(
                    f"DataLoader with IterableDataset: expected unspecified batch_sampler option, but got batch_sampler={batch_sampler}"
                )
        else:
            shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError(
                    "batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, and drop_last"
                )
            batch_size = None
            drop_last = False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive with drop_last")
        if sampler is None and not self._iterable:
            sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None and not self._iterable:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn
        self._pool = None
        self._epoch = 0

    @property
    def _auto_collation(self):
        if self._iterable:
            return self.batch_size is not None
        return self.batch_sampler is not None

    @property
    def _index_sampler(self):
        return self.batch_sampler if self._auto_collation else self.sampler

    def __iter__(self):
        if self.num_workers == 0:
            return _SingleProcessIter(self)
        return _MultiProcessIter(self)

    def __len__(self):
        if self._iterable:
            n = len(self.dataset)
            if self.batch_size is not None:
                n = n // self.batch_size if self.drop_last else -(-n // self.batch_size)
            return n
        return len(self._index_sampler)

    def __del__(self):
        pool = getattr(self, "_pool", None)
        if pool is not None:
            try:
                pool.shutdown()
            except Exception:
                pass

    def __getstate__(self):
        d = dict(self.__dict__)
        d["_pool"] = None
        return d
