"""tsdiff: diffusion models for time series and spatiotemporal data."""

__version__ = "0.1.0"


def __getattr__(name):  # lazy: `import tsdiff` stays light; tsdiff.DiffusionImputer imports the task on first use
    if name == "DiffusionImputer":
        from .tasks.impute import DiffusionImputer

        return DiffusionImputer
    raise AttributeError(f"module 'tsdiff' has no attribute {name!r}")
