"""WSGI entry point for production servers (gunicorn via `tenohira serve`)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tenohira.config.settings")
application = get_wsgi_application()
