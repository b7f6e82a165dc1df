"""A training's uploads to object storage, off the training thread.

With the files in S3 or another shared store (`PETBOOTH_STORAGE`), every checkpoint (the LoRA,
its kohya copy and the optimizer state: about 80 MB at rank 4) and every preview is uploaded
before the event that names it. On the training thread the GPU would wait for the network at
each checkpoint. Here the uploads run on one worker thread, each with the event written after
it, in the order they were queued:
- an event still follows its files into storage (another machine resumes only from what
  storage holds), and checkpoint and preview events keep their order;
- a failed upload fails the job's attempt, as it did on the training thread: the trainer
  hears of it at its next step, checkpoint or preview, or when the job ends (`flush`), and
  what was queued behind it is dropped (the retried attempt resumes from what storage holds);
- the job's end waits for every upload (`flush`), on success and on a stop alike, so a job
  returned to the queue is resumable elsewhere from its last checkpoint;
- the training waits at a checkpoint while the uploads are `keep_checkpoints` - 1 works
  behind (`limit_backlog`): at its next checkpoint it prunes the optimizer state of all but
  its newest `keep_checkpoints`, and one not uploaded by then would never reach storage.
With the default store (the data dir itself) publishing is a no-op: the work runs inline.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

log = logging.getLogger(__name__)


class UploadQueue:
    """Work (uploads, then the event naming them) run in order on one worker thread."""

    def __init__(self, *, inline: bool) -> None:
        self._inline = inline
        self._executor: ThreadPoolExecutor | None = None
        self._pending: list[Future[None]] = []
        self._failure: BaseException | None = None
        self._reported = False

    def submit(self, work: Callable[[], None]) -> None:
        """Queue `work` (run it now when inline); raises an earlier work's failure first."""
        self.raise_failure()
        if self._inline:
            work()
            return
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="uploads")
        self._pending = [future for future in self._pending if not future.done()]
        self._pending.append(self._executor.submit(self._run, work))

    @property
    def failed(self) -> bool:
        """Whether some work failed (the queue then takes no more)."""
        return self._failure is not None

    @property
    def waiting(self) -> int:
        """Work queued or running."""
        return sum(not future.done() for future in self._pending)

    def _run(self, work: Callable[[], None]) -> None:
        if self._failure is not None:
            return  # dropped: this attempt fails; the retry resumes from what storage holds
        try:
            work()
        except BaseException as err:  # handed to the training thread, which fails the job
            self._failure = err

    def limit_backlog(self, most: int) -> int:
        """Wait, oldest first, until at most `most` works are queued or running; raise a
        failure. Returns how many there were to wait for."""
        over = self.waiting - most
        for future in list(self._pending):
            if self.waiting <= most:
                break
            future.result()  # `_run` keeps failures to itself: this only waits
        self.raise_failure()
        return max(over, 0)

    def raise_failure(self) -> None:
        """Raise the first failed work's error (every time: the queue takes no more work)."""
        if self._failure is not None:
            self._reported = True
            raise self._failure

    def flush(self) -> None:
        """Wait for every queued work; raise the first failure."""
        self._wait()
        self.raise_failure()

    def settle(self) -> None:
        """`flush` for a job that is failing or stopping already: a failure not raised yet
        is logged, not raised (the job's own error is the one to report)."""
        self._wait()
        if self._failure is not None and not self._reported:
            self._reported = True
            log.error("an upload failed: %s", self._failure, exc_info=self._failure)

    def _wait(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)  # a later submit starts a new worker
            self._executor = None
        self._pending.clear()
