"""Auxiliary training losses that a network computes itself (optical-flow photometric terms, flow
smoothness, label coherence, ...), and the one seam through which the trainer collects them.

Protocol (optional part of the model contract, see registry.py):

    logits = model(x)                                    # training mode, gradients on
    losses = model.auxiliary_losses(target, n_labeled)   # {name: weighted scalar}; {} if none

`forward` in training mode keeps what the losses need (`stash_auxiliary`); `auxiliary_losses`
turns it into losses and forgets it, so a stash never outlives the step that made it. The returned
losses are already weighted by the model's own settings: the trainer adds their sum to the
supervised loss. `target` is the (n_labeled, 1, H, W) mask of the first `n_labeled` windows of the
batch (the mean-teacher student batch is labelled windows first, then unlabelled ones), or None with
n_labeled = 0 for a batch of unlabelled windows only (the student's separate unlabelled pass,
`mean_teacher.student_batchnorm=separate`): label terms then return nothing. Losses that need no
labels (flow) use the whole batch. In eval mode, or under no_grad, nothing is kept:
validation, the EMA teacher and inference never pay for the auxiliary terms.

`collect_auxiliary_losses(model, ...)` is what the trainer calls: it works for any model and
returns {} for models without the hook.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn as nn


class AuxiliaryLossMixin:
    """Mixin for nn.Module subclasses with auxiliary losses: override `compute_auxiliary_losses`."""

    _aux_stash: dict[str, torch.Tensor] | None = None

    def stash_auxiliary(self, **tensors: torch.Tensor) -> None:
        """Keep `tensors` for `auxiliary_losses` (training mode with gradients only)."""
        if self.training and torch.is_grad_enabled():
            self._aux_stash = tensors

    def auxiliary_losses(self, target: torch.Tensor | None = None, n_labeled: int = 0) -> dict[str, torch.Tensor]:
        """The weighted auxiliary losses of the last training-mode forward ({} if there was none)."""
        stash, self._aux_stash = self._aux_stash, None
        if stash is None:
            return {}
        return self.compute_auxiliary_losses(stash, target, n_labeled)

    def compute_auxiliary_losses(self, stash: Mapping[str, torch.Tensor], target: torch.Tensor | None,
                                 n_labeled: int) -> dict[str, torch.Tensor]:
        return {}

    def __getstate__(self):
        # deepcopy (EMA teacher, BatchNorm folding) and pickling must not carry a stash: it holds
        # non-leaf tensors of an autograd graph, which cannot be copied.
        state = dict(self.__dict__)
        state["_aux_stash"] = None
        return state


def collect_auxiliary_losses(model: nn.Module, target: torch.Tensor | None = None,
                             n_labeled: int = 0) -> dict[str, torch.Tensor]:
    """{name: weighted loss} from `model.auxiliary_losses`; {} for a model without the hook.

    Pass the network itself, not its DDP / torch.compile wrapper (the trainer's `student`)."""
    hook = getattr(model, "auxiliary_losses", None)
    if hook is None:
        return {}
    return dict(hook(target, n_labeled))
