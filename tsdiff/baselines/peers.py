"""PyPOTS's SAITS, BRITS and CSDI as optional peers in the imputation benchmark (``pip install pypots``).

Each peer is trained on the training windows (NaN = missing) standardised per feature on the training split, and
imputes the evaluation windows; the draws come back in data units as ``(N, S, L, K)`` (S = 1 for the
deterministic SAITS and BRITS), with the observed values of the input unchanged. Configurations: SAITS as in
PyPOTS's PhysioNet quick-start (2 layers, d_model 256, 4 heads, d_ffn 128, dropout 0.1); BRITS with the 64 hidden
units of its reference code (Cao et al. 2018); CSDI at the reference configuration (Tashiro et al. 2021), the one
tsdiff's "reference" preset matches. PyPOTS's own defaults for everything else (Adam, lr 1e-3, no early stopping
without a validation set).
"""

from __future__ import annotations

import time

import numpy as np
import torch

from ..data.scaling import FeatureScaler

__all__ = ["PEERS", "pypots_impute"]

PEERS = {
    "saits": {"n_layers": 2, "d_model": 256, "n_heads": 4, "d_k": 64, "d_v": 64, "d_ffn": 128, "dropout": 0.1},
    "brits": {"rnn_hidden_size": 64},
    "csdi": {
        "n_layers": 4, "n_heads": 8, "n_channels": 64, "d_time_embedding": 128, "d_feature_embedding": 16,
        "d_diffusion_embedding": 128, "n_diffusion_steps": 50, "schedule": "quad", "beta_start": 1e-4, "beta_end": 0.5,
    },
}  # fmt: skip


def _model_class(name: str):
    if name not in PEERS:
        raise ValueError(f"unknown PyPOTS peer {name!r}; choose from {sorted(PEERS)}")
    try:
        from pypots import imputation
    except ImportError as e:
        raise ImportError(f"the PyPOTS peers need pypots: pip install pypots ({e})") from e
    return getattr(imputation, name.upper())


def pypots_impute(
    name: str,
    x: np.ndarray,
    train: np.ndarray,
    *,
    epochs: int,
    n_samples: int = 1,
    batch_size: int | None = None,
    device: str | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, dict]:
    """Train PyPOTS's ``name`` ("saits", "brits" or "csdi") on ``train`` (M, L, K) and impute ``x`` (N, L, K).

    Returns the draws (N, S, L, K) in data units (S = ``n_samples`` for CSDI, 1 otherwise) and the wall times
    ``{"train_s", "impute_s"}``.
    """
    cls = _model_class(name)
    x, train = np.asarray(x, dtype=np.float64), np.asarray(train, dtype=np.float64)
    if x.ndim != 3 or train.ndim != 3 or x.shape[1:] != train.shape[1:]:
        raise ValueError(f"pypots_impute: x {x.shape} and train {train.shape} must be (N, L, K) with equal L, K")
    if epochs < 1:
        raise ValueError(f"pypots_impute: epochs must be >= 1, got {epochs}")
    scaler = FeatureScaler.fit(train)
    _, length, features = train.shape
    torch.manual_seed(seed)
    np.random.seed(seed)  # noqa: NPY002  (PyPOTS draws its training masks from numpy's global generator)
    batch = batch_size or (16 if name == "csdi" else 32)
    model = cls(n_steps=length, n_features=features, epochs=int(epochs), batch_size=batch, device=device,
                saving_path=None, verbose=False, **PEERS[name])  # fmt: skip
    start = time.perf_counter()
    model.fit({"X": scaler.transform(train).astype(np.float32)})
    train_s = time.perf_counter() - start

    start = time.perf_counter()
    test = {"X": scaler.transform(x).astype(np.float32)}
    if name == "csdi":
        draws = model.predict(test, n_sampling_times=n_samples)["imputation"]  # (N, S, L, K)
    else:
        draws = model.predict(test)["imputation"][:, None]  # (N, 1, L, K)
    impute_s = time.perf_counter() - start
    draws = scaler.inverse(np.asarray(draws, dtype=np.float64))
    draws = np.where(np.isnan(x)[:, None], draws, x[:, None])  # observed values exactly as given
    return draws, {"train_s": train_s, "impute_s": impute_s}
