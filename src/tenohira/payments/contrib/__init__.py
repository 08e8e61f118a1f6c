"""Payment providers, one module each; importing them registers them (payments.registry)."""

import importlib
import logging

logger = logging.getLogger(__name__)

# Each module registers itself when imported. A provider whose SDK is missing is left
# out (and logged) rather than taking the whole site down.
for _name in ("stripe_card", "paypay", "konbini", "counter"):
    try:
        importlib.import_module(f"{__name__}.{_name}")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith(f"{__name__}.{_name}"):
            continue  # not written yet
        logger.warning("payment provider %s not available: %s", _name, exc)
