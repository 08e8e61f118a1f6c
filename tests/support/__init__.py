"""Helpers the tests share: outside services started as real processes."""
