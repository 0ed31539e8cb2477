"""Periodic retraining: ingest, rebuild, train, gate, promote, score."""
