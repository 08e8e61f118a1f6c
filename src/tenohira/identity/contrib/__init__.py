"""One module per identity provider; importing this package registers them all."""
