"""Ensemble scores for gridded forecasts, WeatherBench 2 style: xarray in, xarray out, named dims.

Every score is computed per cell and then averaged with latitude (cell-area) weights normalised to mean 1 over the
cells that hold data (NaN truth = no data, e.g. ocean cells of a land-only field), over ``dims`` (default: the
spatial dims and ``time``), so what is left (``lead_time``, variables of a Dataset) stays. Forecasts carry the
ensemble in ``member_dim`` (WeatherBench 2's ``number`` / ``realization`` are accepted by passing that name).

    crps                  E|X - y| - 0.5 E|X - X'|, fair spread term 1 / (M (M - 1)) (Ferro 2014; WB2, GenCast);
                          with one member (a deterministic forecast) it is the latitude-weighted MAE
    ensemble_mean_rmse    sqrt of the weighted mean squared error of the ensemble mean; with ``infinite_ensemble``
                          the unbiased estimate for the mean of infinitely many members (Leutbecher 2019)
    spread                sqrt of the weighted mean ensemble variance (ddof = 1)
    spread_skill_ratio    spread / ensemble_mean_rmse, optionally x sqrt((M + 1) / M) (Fortin et al. 2014; GenCast)
    rank_histogram        counts of the truth's rank among the members (ties broken at random)
    rank_flatness         mean |relative frequency x (M + 1) - 1| of the rank histogram: 0 for a flat one
    energy_score          E||X - y|| - 0.5 E||X - X'|| over the spatial field (Gneiting & Raftery 2007), fair form
"""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr

from .probabilistic import crps_ensemble

__all__ = [
    "LAT_NAMES",
    "LON_NAMES",
    "spatial_dims",
    "latitude_weights",
    "weighted_mean",
    "crps",
    "ensemble_mean_rmse",
    "spread",
    "spread_skill_ratio",
    "rank_histogram",
    "rank_flatness",
    "energy_score",
    "score_table",
]

LAT_NAMES = ("latitude", "lat")
LON_NAMES = ("longitude", "lon")


def spatial_dims(obj: xr.DataArray | xr.Dataset) -> tuple[str, str]:
    """The (latitude, longitude) dim names of ``obj``: ``latitude``/``lat`` and ``longitude``/``lon``."""
    lat = next((d for d in LAT_NAMES if d in obj.dims), None)
    lon = next((d for d in LON_NAMES if d in obj.dims), None)
    if lat is None or lon is None:
        raise ValueError(f"expected latitude and longitude dims named {LAT_NAMES} / {LON_NAMES}, got {tuple(obj.dims)}")
    return lat, lon


def latitude_weights(lat: xr.DataArray) -> xr.DataArray:
    """Cell-area weights of a regular latitude axis, normalised to mean 1: sin(upper edge) - sin(lower edge), edges
    half-way between centres and clipped at the poles (WeatherBench 2's weighting; proportional to cos(lat) away
    from the poles). Works for ascending and descending axes."""
    values = np.asarray(lat, dtype=np.float64)
    if not (np.abs(values) <= 90).all():
        raise ValueError(f"latitudes must lie in [-90, 90], got {values.min()} .. {values.max()}")
    if values.size == 1:
        w = np.ones(1)
    else:
        order = np.argsort(values)
        s = values[order]
        edges = np.concatenate([[s[0] - (s[1] - s[0]) / 2], (s[1:] + s[:-1]) / 2, [s[-1] + (s[-1] - s[-2]) / 2]])
        edges = np.clip(edges, -90.0, 90.0)
        area = np.sin(np.deg2rad(edges[1:])) - np.sin(np.deg2rad(edges[:-1]))
        w = np.empty_like(area)
        w[order] = area
    return xr.DataArray(w / w.mean(), coords={lat.name: lat.values}, dims=[lat.name], name="latitude_weight")


def _reduce_dims(obj, dims) -> list[str]:
    if dims is not None:
        dims = [dims] if isinstance(dims, str) else list(dims)
        missing = [d for d in dims if d not in obj.dims]
        if missing:
            raise ValueError(f"dims {missing} are not dims of the data {tuple(obj.dims)}")
        return dims
    return [*spatial_dims(obj), *(["time"] if "time" in obj.dims else [])]


def weighted_mean(score, dims=None):
    """Latitude-weighted mean of a per-cell score over ``dims`` (default: spatial dims and time), NaN cells
    excluded (their weight does not count)."""
    lat, _ = spatial_dims(score)
    return score.weighted(latitude_weights(score[lat])).mean(_reduce_dims(score, dims), skipna=True)


def _check(forecast, truth, member_dim):
    """(forecast, truth) on their common coordinates (an inner join: a truth that spans more times or a larger
    domain is cut to the forecast's), after checking dims; an empty overlap is an error that names the dim, and so is
    a forecast value that is NaN or inf where the truth has data."""
    if member_dim not in forecast.dims:
        raise ValueError(f"forecast has no member dim {member_dim!r}; its dims are {tuple(forecast.dims)}")
    if member_dim in truth.dims:
        raise ValueError(f"truth must not have the member dim {member_dim!r}")
    extra = set(truth.dims) - set(forecast.dims)
    if extra:
        raise ValueError(f"truth has dims {sorted(extra)} that the forecast lacks")
    forecast, truth = xr.align(forecast, truth, join="inner", exclude=[member_dim])
    empty = [d for d in truth.dims if truth.sizes[d] == 0]
    if empty:
        raise ValueError(f"forecast and truth share no coordinate values along {empty}")
    missing = (forecast.isnull() | np.isinf(forecast)) & truth.notnull()  # a score would skip these silently
    n_missing = int((missing.to_array() if isinstance(missing, xr.Dataset) else missing).sum())
    if n_missing:
        raise ValueError(f"forecast holds NaN or inf in {n_missing} values where the truth has data")
    return forecast, truth


def _nan_where_missing(score, truth):
    return score.where(truth.notnull())


def crps(forecast, truth, member_dim: str = "member", dims=None, fair: bool = True):
    """CRPS of the ensemble (fair by default), latitude-weighted over ``dims``. One member: the MAE."""
    forecast, truth = _check(forecast, truth, member_dim)

    def per_cell(x, y):  # x (..., M) numpy, y (...)
        samples = torch.from_numpy(np.ascontiguousarray(np.moveaxis(np.asarray(x, dtype=np.float64), -1, 0)))
        truth_ = torch.from_numpy(np.ascontiguousarray(y, dtype=np.float64))
        return crps_ensemble(samples, truth_, fair=fair).numpy()

    truth_b = truth.broadcast_like(forecast.isel({member_dim: 0}, drop=True))
    score = xr.apply_ufunc(per_cell, forecast, truth_b, input_core_dims=[[member_dim], []])
    return weighted_mean(_nan_where_missing(score, truth_b), dims)


def ensemble_mean_rmse(forecast, truth, member_dim: str = "member", dims=None, infinite_ensemble: bool = False):
    """sqrt(weighted mean of (ensemble mean - truth)^2) over ``dims``.

    ``infinite_ensemble``: the RMSE the mean of infinitely many members would have, estimated without bias from M of
    them: the mean of M independent draws errs by an extra variance / M, so each cell's squared error less its
    ensemble variance (ddof = 1) / M is averaged, and the root taken of the average (0 if it is negative, which only
    sampling noise can make it) (Leutbecher 2019, "Ensemble size: how suboptimal is less than infinity?", QJRMS).
    It says how much of an ensemble mean's error is its finite size."""
    forecast, truth = _check(forecast, truth, member_dim)
    squared = (forecast.mean(member_dim) - truth) ** 2
    if infinite_ensemble:
        m = forecast.sizes[member_dim]
        if m < 2:
            raise ValueError("the infinite-ensemble estimate needs at least two members")
        squared = squared - forecast.var(member_dim, ddof=1) / m
    return np.sqrt(weighted_mean(squared, dims).clip(min=0))


def spread(forecast, truth, member_dim: str = "member", dims=None):
    """sqrt(weighted mean of the ensemble variance (ddof = 1)) over the cells where truth holds data."""
    forecast, truth = _check(forecast, truth, member_dim)
    if forecast.sizes[member_dim] < 2:
        raise ValueError("spread needs at least two members")
    return np.sqrt(weighted_mean(_nan_where_missing(forecast.var(member_dim, ddof=1), truth), dims))


def spread_skill_ratio(forecast, truth, member_dim: str = "member", dims=None, finite_ensemble: bool = True):
    """spread / ensemble-mean RMSE; with ``finite_ensemble`` times sqrt((M + 1) / M), so that a perfectly
    calibrated M-member ensemble scores 1 in expectation (Fortin et al. 2014; GenCast)."""
    ratio = spread(forecast, truth, member_dim, dims) / ensemble_mean_rmse(forecast, truth, member_dim, dims)
    m = forecast.sizes[member_dim]
    return ratio * np.sqrt((m + 1) / m) if finite_ensemble else ratio


def rank_histogram(forecast, truth, member_dim: str = "member", dims=None, seed: int = 0):
    """Counts of the truth's rank among the M members (M + 1 bins, dim ``rank``), pooled over ``dims`` (default:
    spatial dims and time), cells without truth excluded. Ties are broken uniformly at random."""
    forecast, truth = _check(forecast, truth, member_dim)
    rng = np.random.default_rng(seed)
    m = forecast.sizes[member_dim]

    def ranks(x, y):  # x (..., M), y (...) -> rank (...) as float, NaN where y is NaN
        below = (x < y[..., None]).sum(-1)
        ties = (x == y[..., None]).sum(-1)
        r = below + np.floor(rng.random(y.shape) * (ties + 1))
        return np.where(np.isnan(y), np.nan, r)

    truth_b = truth.broadcast_like(forecast.isel({member_dim: 0}, drop=True))
    rank = xr.apply_ufunc(ranks, forecast, truth_b, input_core_dims=[[member_dim], []])
    reduce = _reduce_dims(rank, dims)
    bins = xr.DataArray(np.arange(m + 1), dims=["rank"])
    return (rank == bins).sum(reduce)


def rank_flatness(histogram, rank_dim: str = "rank"):
    """Mean |relative frequency x n_bins - 1| over the bins of a rank histogram: 0 when flat, larger when the
    ensemble is under- (U shape) or over-dispersed (dome) or biased (slope)."""
    n_bins = histogram.sizes[rank_dim]
    freq = histogram / histogram.sum(rank_dim)
    return abs(freq * n_bins - 1).mean(rank_dim)


def energy_score(forecast, truth, member_dim: str = "member", dims=None):
    """Energy score of the ensemble over the spatial field (cells with truth; latitude weights inside the norm),
    E||X - y|| - 1 / (2 M (M - 1)) sum_{i != j} ||x_i - x_j||, averaged over the other ``dims`` (default: time)."""
    forecast, truth = _check(forecast, truth, member_dim)
    lat, lon = spatial_dims(forecast)
    w = latitude_weights(forecast[lat])
    valid = truth.notnull()
    w_cells = (w * valid).broadcast_like(truth)

    def norm(d):
        return np.sqrt((w_cells * d.fillna(0.0) ** 2).sum([lat, lon]) / w_cells.sum([lat, lon]))

    skill = norm(forecast - truth).mean(member_dim)
    m = forecast.sizes[member_dim]
    if m > 1:
        other = forecast.rename({member_dim: "_other"})
        pair = norm(forecast - other).sum([member_dim, "_other"]) / (m * (m - 1))
    else:
        pair = 0.0 * skill
    score = skill - 0.5 * pair
    rest = [d for d in (_reduce_dims(forecast, dims) if dims is not None else ["time"]) if d not in (lat, lon)]
    rest = [d for d in rest if d in score.dims]
    return score.mean(rest) if rest else score


def score_table(forecast, truth, member_dim: str = "member", method: str = ""):
    """Every score per variable and lead time as a pandas DataFrame (one row each): CRPS (fair), ensemble-mean
    RMSE, and for ensembles the mean's RMSE with infinitely many members (``rmse_inf``), the spread-skill ratio (with
    the finite-ensemble factor) and rank-histogram flatness."""
    import pandas as pd

    m = forecast.sizes[member_dim]
    crps_ = crps(forecast, truth, member_dim)
    rmse_ = ensemble_mean_rmse(forecast, truth, member_dim)
    rmse_inf = ensemble_mean_rmse(forecast, truth, member_dim, infinite_ensemble=True) if m > 1 else None
    ssr = spread_skill_ratio(forecast, truth, member_dim) if m > 1 else None
    flat = rank_flatness(rank_histogram(forecast, truth, member_dim)) if m > 1 else None
    rows = []
    for var in forecast.data_vars:
        for lead in forecast["lead_time"].values:
            pick = {"lead_time": lead}
            rows.append(
                {
                    "method": method,
                    "variable": var,
                    "lead_time": pd.Timedelta(lead),
                    "members": m,
                    "crps": crps_[var].sel(pick).item(),
                    "rmse": rmse_[var].sel(pick).item(),
                    "rmse_inf": None if rmse_inf is None else rmse_inf[var].sel(pick).item(),
                    "spread_skill": None if ssr is None else ssr[var].sel(pick).item(),
                    "rank_flatness": None if flat is None else flat[var].sel(pick).item(),
                }
            )
    return pd.DataFrame(rows)
