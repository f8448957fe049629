"""Environments: OGBench's, made by dataset name, plus maze geometry helpers."""
