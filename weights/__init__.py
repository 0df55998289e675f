"""Weights layer: the store schema and access, weight/score/catalog building, versions."""
