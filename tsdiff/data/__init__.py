"""Data: loaders for the real formats, windows and mask strategies, pandas/xarray adapters, scaling."""
