"""tsdiff: diffusion models for time series and spatiotemporal data."""

__version__ = "0.1.0"
