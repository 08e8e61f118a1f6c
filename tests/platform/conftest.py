"""Fixtures of the platform tests: a browser on an allowed host."""

import pytest
from django.test import Client


@pytest.fixture
def browser():
    """A fresh browser talking to the host the settings allow (not "testserver")."""
    return Client(HTTP_HOST="localhost")
