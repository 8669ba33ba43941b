"""One type for everything a conditional sample is conditioned on.

Masked conditioning (CSDI; RePaint): ``observed`` holds the known values where ``obs_mask`` is set, the model (or
the replacement step) is given them, they come back unchanged in every output, and losses are taken only where
``target_mask`` is set. ``side`` carries extra inputs (covariates, static fields) and ``labels`` class labels, where
``NULL_LABEL`` (-1) means "no label" for classifier-free guidance, and ``scalars`` continuous conditions such as
lead time.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch

__all__ = ["Condition", "NULL_LABEL"]

NULL_LABEL = -1


@dataclass(frozen=True, eq=False)
class Condition:
    observed: torch.Tensor | None = None  # (B, ...) known values; entries outside obs_mask are ignored
    obs_mask: torch.Tensor | None = None  # (B, ...) bool, True where a value is given
    target_mask: torch.Tensor | None = None  # (B, ...) bool, True where the loss / imputation is wanted
    side: torch.Tensor | None = None  # (B, ...) side information, model-specific
    labels: torch.Tensor | None = None  # (B,) long class labels, NULL_LABEL for none
    scalars: torch.Tensor | None = None  # (B, n) float scalar conditions (lead time, hour of day, day of year)

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None and not isinstance(value, torch.Tensor):
                raise TypeError(f"Condition: {f.name} must be a torch tensor, got {type(value).__name__}")
        if (self.observed is None) != (self.obs_mask is None):
            raise ValueError("Condition: observed and obs_mask must be given together")
        if self.obs_mask is not None:
            mask = torch.as_tensor(self.obs_mask)
            if mask.dtype != torch.bool:
                raise TypeError(f"Condition: obs_mask must be a bool tensor, got {mask.dtype}")
            if tuple(self.observed.shape) != tuple(mask.shape):
                raise ValueError(
                    f"Condition: observed {tuple(self.observed.shape)} and obs_mask {tuple(mask.shape)} differ in shape"
                )
            if not torch.isfinite(self.observed[mask]).all():
                raise ValueError("Condition: observed holds NaN or inf at entries marked observed by obs_mask")
            # a new tensor with zeros where nothing is observed: models may multiply it by the mask
            object.__setattr__(
                self, "observed", torch.where(mask, self.observed, torch.zeros((), dtype=self.observed.dtype))
            )
        if self.target_mask is not None:
            if self.target_mask.dtype != torch.bool:
                raise TypeError(f"Condition: target_mask must be a bool tensor, got {self.target_mask.dtype}")
            if self.obs_mask is not None and self.target_mask.shape != self.obs_mask.shape:
                raise ValueError(
                    f"Condition: target_mask {tuple(self.target_mask.shape)} and obs_mask "
                    f"{tuple(self.obs_mask.shape)} differ in shape"
                )
        sizes = {f.name: getattr(self, f.name).shape[0] for f in fields(self) if getattr(self, f.name) is not None}
        if len(set(sizes.values())) > 1:
            raise ValueError(f"Condition: fields disagree on the batch size: {sizes}")

    @property
    def batch_size(self) -> int | None:
        for f in fields(self):
            v = getattr(self, f.name)
            if v is not None:
                return v.shape[0]
        return None

    def _map(self, fn) -> Condition:
        return replace(
            self, **{f.name: fn(getattr(self, f.name)) for f in fields(self) if getattr(self, f.name) is not None}
        )

    def repeat_interleave(self, n: int) -> Condition:
        """Each batch item repeated n times in a row: (B, ...) -> (B * n, ...), for n samples per item."""
        return self if n == 1 else self._map(lambda v: v.repeat_interleave(n, dim=0))

    def to(self, *args, **kwargs) -> Condition:
        """Move tensors (device only for masks and labels; dtype applies to observed and side)."""

        def move(v):
            return v.to(*args, **kwargs) if v.is_floating_point() else v.to(device=_device_of(args, kwargs, v))

        return self._map(move)

    def index(self, idx) -> Condition:
        return self._map(lambda v: v[idx])

    def null(self) -> Condition:
        """The same condition without class labels (every label NULL_LABEL): the unconditional branch of CFG."""
        if self.labels is None:
            return self
        return replace(self, labels=torch.full_like(self.labels, NULL_LABEL))

    @staticmethod
    def cat(conditions: list[Condition]) -> Condition:
        """Concatenate conditions along the batch (all must set the same fields)."""
        present = [{f.name for f in fields(c) if getattr(c, f.name) is not None} for c in conditions]
        if any(p != present[0] for p in present):
            raise ValueError(f"Condition.cat: conditions set different fields: {present}")
        return Condition(**{k: torch.cat([getattr(c, k) for c in conditions]) for k in present[0]})


def _device_of(args, kwargs, v):
    if "device" in kwargs:
        return kwargs["device"]
    for a in args:
        if isinstance(a, (str, torch.device)):
            return a
    return v.device
