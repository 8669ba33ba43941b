"""Denoisers: plain nn.Modules called as model(x_t, t, condition), each declaring its parameterization."""

from __future__ import annotations

from .csdi import CSDIConfig, CSDIDenoiser
from .dit import DiTConfig, DiTDenoiser
from .mlp import MLPConfig, MLPDenoiser

MODELS = {"mlp": (MLPDenoiser, MLPConfig), "csdi": (CSDIDenoiser, CSDIConfig), "dit": (DiTDenoiser, DiTConfig)}


def build_model(description: dict):
    """Rebuild a model from ``model.describe()`` (as stored in checkpoints)."""
    kind = description.get("kind") if isinstance(description, dict) else None
    if kind not in MODELS:
        raise ValueError(f"build_model: unknown model kind {kind!r}; expected one of {sorted(MODELS)}")
    cls, config_cls = MODELS[kind]
    return cls(config_cls(**description.get("config", {})))


__all__ = [
    "CSDIConfig",
    "CSDIDenoiser",
    "DiTConfig",
    "DiTDenoiser",
    "MLPConfig",
    "MLPDenoiser",
    "MODELS",
    "build_model",
]
