"""Tiro's learning side: the telemetry store, the data contract, the pipeline
that turns corrections into personalized models, the model registry and the
monitor. No Qt here (an import-linter contract enforces it).
"""
