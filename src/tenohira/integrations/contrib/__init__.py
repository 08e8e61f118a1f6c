"""One module per delivery kind (webhook, file drop, e-mail); importing this package registers them."""
