from django import template

from tenohira.audit.selectors import ACTIONS

register = template.Library()


@register.filter
def action_label(action: str) -> str:
    return ACTIONS.get(action, action)


@register.filter
def detail_text(detail: dict) -> str:
    """{"fields": ["reason"], "rows": 3} → fields: reason、rows: 3 (no Python syntax)."""
    parts = []
    for key, value in (detail or {}).items():
        if isinstance(value, list | tuple):
            value = "・".join(str(v) for v in value)
        elif isinstance(value, dict):
            value = "・".join(f"{k}={v}" for k, v in value.items())
        parts.append(f"{key}: {value}")
    return "、".join(parts)
