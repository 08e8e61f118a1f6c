"""One module per identity provider; importing this package registers them all."""

from tenohira.identity.contrib import email, gbizid, mynumber_card, oidc  # noqa: F401
