"""Dynamic batching: merge concurrent row-format requests along dim 0 into one predict call.

A model call on 16 rows costs little more than a call on one, so under load the server waits up to
``timeout_s`` after the first queued request for others with the same trailing shapes and dtypes,
runs them as one batch of at most ``max_batch_size`` rows and hands each caller its own slice.
A request larger than ``max_batch_size`` runs alone; it is never split.
"""

from __future__ import annotations

import asyncio
import collections

import numpy as np

_STOP = object()  # queued by close(): finish the batch being collected, then stop


def batch_key(inputs: dict[str, np.ndarray]):
    """Requests can share a batch only when every input agrees on everything but dim 0."""
    return tuple((n, a.shape[1:], a.dtype.str) for n, a in sorted(inputs.items()))


def rows_of(inputs: dict[str, np.ndarray]) -> int:
    return next(iter(inputs.values())).shape[0]


class DynamicBatcher:
    """Queue row requests on the event loop; run merged batches with ``run_batch`` (an async callable)."""

    def __init__(self, run_batch, max_batch_size: int, timeout_s: float, max_in_flight: int = 1):
        if not isinstance(max_batch_size, int) or max_batch_size < 1:
            raise ValueError(f"max_batch_size must be an int >= 1, got {max_batch_size!r}")
        if not timeout_s >= 0:
            raise ValueError(f"batch timeout must be >= 0 seconds, got {timeout_s!r}")
        self.run_batch = run_batch
        self.max_batch_size = max_batch_size
        self.timeout_s = float(timeout_s)
        self._queue: asyncio.Queue | None = None
        self._carry: collections.deque = collections.deque()  # taken from the queue but not fitting the last batch
        self._task: asyncio.Task | None = None
        self._slots = asyncio.Semaphore(max_in_flight)
        self._running: set[asyncio.Task] = set()

    async def submit(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Predict ``inputs`` (all with the same dim 0) as part of some batch; returns this request's rows."""
        if self._task is None:
            self._queue = asyncio.Queue()
            self._task = asyncio.get_running_loop().create_task(self._collect())
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((inputs, future))
        return await future

    async def close(self):
        """Run what is queued, stop collecting and wait for running batches (graceful shutdown)."""
        if self._task is not None:
            self._queue.put_nowait(_STOP)
            await self._task
            self._task = None
            while not self._queue.empty():  # arrived after the stop marker: run, never drop
                await self._run([self._queue.get_nowait()])
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)

    async def _next(self, timeout):
        if self._carry:
            return self._carry.popleft()
        if timeout is None:
            return await self._queue.get()
        if timeout <= 0:
            return self._queue.get_nowait()  # raises QueueEmpty
        return await asyncio.wait_for(self._queue.get(), timeout)

    async def _collect(self):
        loop = asyncio.get_running_loop()
        while True:
            first = await self._next(None)
            if first is _STOP:
                return
            batch, key, rows = [first], batch_key(first[0]), rows_of(first[0])
            deadline = loop.time() + self.timeout_s
            while rows < self.max_batch_size:
                try:
                    item = await self._next(deadline - loop.time())
                except (asyncio.TimeoutError, asyncio.QueueEmpty):
                    break
                if item is _STOP or batch_key(item[0]) != key or rows + rows_of(item[0]) > self.max_batch_size:
                    self._carry.append(item)  # starts the next batch
                    break
                batch.append(item)
                rows += rows_of(item[0])
            await self._slots.acquire()
            task = loop.create_task(self._run(batch, release=True))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run(self, batch, release=False):
        try:
            live = [(inputs, fut) for inputs, fut in batch if not fut.done()]  # a caller may have gone
            if not live:
                return
            try:
                if len(live) == 1:
                    outs = [await self.run_batch(live[0][0])]
                else:
                    outs = split(await self.run_batch(merge([i for i, _ in live])), [rows_of(i) for i, _ in live])
            except Exception as e:  # every caller in the batch sees the model's error
                for _, fut in live:
                    if not fut.done():
                        fut.set_exception(e)
                return
            for (_, fut), out in zip(live, outs):
                if not fut.done():
                    fut.set_result(out)
        finally:
            if release:
                self._slots.release()


def merge(requests: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {n: np.concatenate([r[n] for r in requests], axis=0) for n in requests[0]}


def split(outputs: dict[str, np.ndarray], sizes: list[int]) -> list[dict[str, np.ndarray]]:
    """Cut each output along dim 0 back into per-request pieces; outputs must have sum(sizes) rows."""
    total = sum(sizes)
    for name, arr in outputs.items():
        arr = np.asarray(arr)
        if arr.ndim == 0 or arr.shape[0] != total:
            raise RuntimeError(  # a model/config problem, not the client's: answered with a 500
                f'output "{name}" has shape {list(arr.shape)} but the batch had {total} rows; '
                "a batched model must keep dim 0 (disable batching for this model)"
            )
    bounds = np.cumsum(sizes)[:-1]
    pieces = {n: np.split(np.asarray(a), bounds, axis=0) for n, a in outputs.items()}
    return [{n: pieces[n][i] for n in outputs} for i in range(len(sizes))]
