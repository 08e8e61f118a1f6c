"""Importers of the DX facts: each module has import_file(path, ...)."""
