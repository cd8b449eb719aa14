"""Readers for public recommendation data sets (one module per data set)."""
