"""Baselines that every benchmark table compares against."""

from .learned import knn_impute, mice_impute
from .simple import linear_impute, locf_impute, mean_impute, median_impute

IMPUTATION_BASELINES = {
    "mean": mean_impute,
    "median": median_impute,
    "locf": locf_impute,
    "linear": linear_impute,
    "knn": knn_impute,
    "mice": mice_impute,
}

__all__ = [
    "IMPUTATION_BASELINES",
    "knn_impute",
    "linear_impute",
    "locf_impute",
    "mean_impute",
    "median_impute",
    "mice_impute",
]
