"""One module per delivery kind (webhook, file drop, e-mail); importing this package registers them."""

from tenohira.integrations.contrib import email, file_drop, webhook  # noqa: F401
