"""PhysioNet/CinC Challenge 2012 on CSDI's grid: 35 variables x 48 hourly bins per ICU stay.

Protocol of the CSDI reference (dataset_physio.py), reproduced here:
- stays: every ``<RecordID>.txt`` of the set with at least one measurement of the 35 variables, sorted by id;
  lines ``Time,Parameter,Value`` with Time = HH:MM;
- the bin of a measurement is its hour HH (0..47; 48:00 falls outside), and the value kept is the last one in
  the file for that (hour, variable);
- test targets: with numpy's legacy RandomState seeded once with ``seed``, for each stay in id order, a share
  ``missing_ratio`` (floor) of its observed cells is chosen without replacement;
- splits: fold ``fold`` of 5 (20% test) of a permutation with that seed; the rest shuffled again with the seed,
  the first 70% of all stays for training, the remainder (10%) for validation.
Difference from the reference, by design: the reference z-scores with means and standard deviations over all
stays (test included); tsdiff fits its scaler on the training split only (see ``tasks.impute``).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["PHYSIONET_VARIABLES", "read_record", "load_physionet2012", "ImputationSplits", "select_targets"]

PHYSIONET_VARIABLES = (
    "DiasABP",
    "HR",
    "Na",
    "Lactate",
    "NIDiasABP",
    "PaO2",
    "WBC",
    "pH",
    "Albumin",
    "ALT",
    "Glucose",
    "SaO2",
    "Temp",
    "AST",
    "Bilirubin",
    "HCO3",
    "BUN",
    "RespRate",
    "Mg",
    "HCT",
    "SysABP",
    "FiO2",
    "K",
    "GCS",
    "Cholesterol",
    "NISysABP",
    "TroponinT",
    "MAP",
    "TroponinI",
    "PaCO2",
    "Platelets",
    "Urine",
    "NIMAP",
    "Creatinine",
    "ALP",
)  # the 35 variables of CSDI (and BRITS), in CSDI's order
_COLUMN = {name: i for i, name in enumerate(PHYSIONET_VARIABLES)}
N_HOURS = 48


@dataclass
class ImputationSplits:
    """A windowed imputation benchmark: values (N, L, K) in data units with NaN where nothing was observed,
    ``eval_mask`` (N, L, K) the held-out evaluation targets (observed cells hidden from the model at test time),
    and index arrays for the splits."""

    values: np.ndarray
    eval_mask: np.ndarray
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    features: tuple[str, ...]
    ids: np.ndarray

    def inputs(self, idx: np.ndarray) -> np.ndarray:
        """Values with the evaluation targets removed (NaN): what an imputer is given at test time."""
        return np.where(self.eval_mask[idx], np.nan, self.values[idx])


def read_record(path: str | Path) -> np.ndarray:
    """One stay as a (48, 35) float array, NaN where nothing was measured in that hour."""
    grid = np.full((N_HOURS, len(PHYSIONET_VARIABLES)), np.nan)
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header != ["Time", "Parameter", "Value"]:
            raise ValueError(f"{path}: expected the header 'Time,Parameter,Value', got {header}")
        for line, row in enumerate(reader, start=2):
            if len(row) != 3:
                continue
            time, name, value = row
            col = _COLUMN.get(name)
            if col is None:
                continue
            try:
                hour, number = int(time.split(":")[0]), float(value)
            except ValueError:
                raise ValueError(f"{path}, line {line}: cannot read the time or value of {','.join(row)!r}") from None
            if not np.isfinite(number):
                raise ValueError(f"{path}, line {line}: {name} is {value!r}; a measurement must be a finite number")
            if 0 <= hour < N_HOURS:
                grid[hour, col] = number  # later lines overwrite: the last value in the hour is kept
    return grid


def select_targets(observed: np.ndarray, missing_ratio: float, rng: np.random.RandomState) -> np.ndarray:
    """The reference's choice of evaluation targets in one stay: floor(ratio * n_observed) observed cells
    drawn without replacement by ``rng.choice`` over the flat indices of observed cells."""
    flat = ~np.isnan(observed.reshape(-1))
    obs_idx = np.where(flat)[0].tolist()
    chosen = rng.choice(obs_idx, int(len(obs_idx) * missing_ratio), replace=False)
    target = np.zeros(flat.shape, dtype=bool)
    target[chosen] = True
    return target.reshape(observed.shape)


def load_physionet2012(
    root: str | Path, missing_ratio: float = 0.1, seed: int = 1, fold: int = 0, subset: str = "set-a"
) -> ImputationSplits:
    """Read ``root/subset/*.txt`` into CSDI's benchmark (see the module docstring for the protocol)."""
    folder = Path(root) / subset
    if not folder.is_dir():
        raise FileNotFoundError(
            f"PhysioNet 2012 folder {folder} not found (data_scripts/physionet2012.py downloads it)"
        )
    if not 0.0 <= missing_ratio < 1.0:
        raise ValueError(f"missing_ratio must be in [0, 1), got {missing_ratio}")
    if fold not in range(5):
        raise ValueError(f"fold must be 0..4, got {fold}")
    # <RecordID>.txt only: a backup such as 132500.txt~ or "132500 (copy).txt" would be a second copy of a stay
    ids = sorted(m.group(1) for p in folder.iterdir() if (m := re.fullmatch(r"(\d{6})\.txt", p.name)))
    if not ids:
        raise FileNotFoundError(f"no <RecordID>.txt files in {folder}")
    values = np.stack([read_record(folder / f"{i}.txt") for i in ids])  # (N, 48, 35)
    # stays without a single measurement of the 35 variables are dropped, as the reference does (its parser
    # raises on them and skips the stay; the random stream is not advanced)
    keep = ~np.isnan(values).all(axis=(1, 2))
    values, ids = values[keep], [i for i, k in zip(ids, keep) if k]

    rng = np.random.RandomState(seed)
    eval_mask = np.stack([select_targets(v, missing_ratio, rng) for v in values])

    n = len(ids)
    if n < 5:
        raise ValueError(f"{folder}: {n} stays with measurements are too few for the 70/10/20 splits (need >= 5)")
    order = np.arange(n)
    np.random.RandomState(seed).shuffle(order)
    start, end = int(fold * 0.2 * n), int((fold + 1) * 0.2 * n)
    test = order[start:end]
    rest = np.delete(order, np.arange(start, end))
    np.random.RandomState(seed).shuffle(rest)
    n_train = int(n * 0.7)
    return ImputationSplits(values, eval_mask, rest[:n_train], rest[n_train:], test, PHYSIONET_VARIABLES, np.array(ids))
