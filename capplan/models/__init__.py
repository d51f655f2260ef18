"""Forecasting models: each one a small class behind :class:`capplan.models.base.Forecaster`."""
