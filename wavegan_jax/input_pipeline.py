"""Batches of real clips from prepared shards, as a pure function of (seed, batch number).

Batch ``b`` of the run is rows ``perm_e[j * B:(j + 1) * B]`` of the memory-mapped training split,
where ``e, j = divmod(b, batches_per_epoch)`` and ``perm_e`` is a permutation seeded by
``(seed, e)`` (the remainder of each epoch is dropped). The data position saved in a checkpoint is
just ``b``, so a resumed run reads exactly the batches an uninterrupted run would have read.
With several processes each one reads only its own contiguous slice of every global batch.
"""
from __future__ import annotations

import numpy as np


class Batches:
    """Training batches for a GAN step of ``n_critic`` discriminator updates.

    audio: [n, length] float32, labels: [n] int (memory-mapped arrays are fine).
    """

    def __init__(self, audio: np.ndarray, labels: np.ndarray, *, global_batch: int, n_critic: int,
                 seed: int, process_index: int = 0, process_count: int = 1):
        if len(audio) < global_batch:
            raise ValueError(f"the training split has {len(audio)} clips, fewer than one batch of "
                             f"{global_batch}: lower batch_size or prepare more data")
        if global_batch % process_count:
            raise ValueError(f"batch_size {global_batch} is not divisible by {process_count} processes")
        self.audio, self.labels = audio, labels
        self.global_batch, self.n_critic, self.seed = global_batch, n_critic, seed
        self.local_batch = global_batch // process_count
        self.offset = process_index * self.local_batch
        self.batches_per_epoch = len(audio) // global_batch
        self._perm_epoch, self._perm = None, None

    def indices(self, b: int) -> np.ndarray:
        """Row indices [local_batch] of this process's part of global batch number ``b``."""
        epoch, j = divmod(b, self.batches_per_epoch)
        if epoch != self._perm_epoch:
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(len(self.audio))
            self._perm_epoch = epoch
        rows = np.sort(self._perm[j * self.global_batch:(j + 1) * self.global_batch])  # the global batch
        return rows[self.offset:self.offset + self.local_batch]

    def get(self, position: int) -> dict[str, np.ndarray]:
        """Batches ``position .. position + n_critic - 1``, stacked.

        Returns {"audio": [n_critic, local_batch, length] float32, "labels": [n_critic, local_batch] int32}.
        """
        idx = [self.indices(position + c) for c in range(self.n_critic)]
        return {"audio": np.stack([self.audio[i] for i in idx]).astype(np.float32),
                "labels": np.stack([self.labels[i] for i in idx]).astype(np.int32)}
