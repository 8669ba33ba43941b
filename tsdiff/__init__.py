"""tsdiff: diffusion models for time series and spatiotemporal data."""

__version__ = "0.1.0"

_TASKS = {
    "DiffusionImputer": "tsdiff.tasks.impute",
    "EnsembleForecaster": "tsdiff.tasks.forecast",
    "Synthesizer": "tsdiff.tasks.synthesize",
}


def __getattr__(name):  # lazy: `import tsdiff` stays light; tsdiff.Synthesizer imports its task on first use
    if name in _TASKS:
        import importlib

        return getattr(importlib.import_module(_TASKS[name]), name)
    raise AttributeError(f"module 'tsdiff' has no attribute {name!r}")
