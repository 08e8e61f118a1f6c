"""A resident who answers any form through the real pages (Django test client): start,
every step the server leads to, the check page with the consent, the receipt.

The answers are made from the schema alone (the first choice, the smallest allowed
number, a date inside the field's bounds, a small real PNG for a file), so a template or
an imported form of any shape can be driven, and two installations given the same form
receive exactly the same POSTs.
"""

from __future__ import annotations

import datetime as dt
import io
import re

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


def png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (30, 120, 200)).save(buffer, "PNG")
    return buffer.getvalue()


def value_for(field, today: dt.date) -> dict:
    """The raw inputs (name → list of strings) a browser posts for `field` under `prefix`."""
    kind = field["type"]
    if kind == "text":
        limit = field.get("max_length", 200)
        return ["1234567"[:limit] if field.get("code") else "サンプル記入"[:limit]]
    if kind == "textarea":
        return ["テストのための記入です。"]
    if kind == "number":
        low = field.get("min")
        return [str(max(low, 1) if low is not None and (field.get("max") is None or max(low, 1) <= field["max"]) else 1)]
    if kind == "email":
        return ["hanako@example.jp"]
    if kind == "phone":
        return ["090-1234-5678"]
    if kind == "postal_code":
        return ["963-8601"]
    if kind == "date":
        if "min_days_from_today" in field:
            return [(today + dt.timedelta(days=field["min_days_from_today"])).isoformat()]
        if "max_days_from_today" in field:
            return [(today + dt.timedelta(days=min(field["max_days_from_today"], 0))).isoformat()]
        return ["平成27年4月1日"]
    if kind in {"choice", "multichoice"}:
        return [str(field["choices"][0]["value"])]
    if kind in {"yesno", "consent"}:
        return ["yes"]
    raise AssertionError(f"no value for {kind}")


def inputs_for(field, prefix: str, today: dt.date) -> tuple[dict, dict]:
    """(data, files) for one field at `prefix`."""
    kind = field["type"]
    if kind in {"computed", "guidance"}:
        return {}, {}
    if kind == "name":
        return {f"{prefix}__family": "山田", f"{prefix}__given": "花子",
                f"{prefix}__family_kana": "やまだ", f"{prefix}__given_kana": "はなこ"}, {}
    if kind == "address":
        parts = {"postal_code": "963-8601", "prefecture": "福島県", "city": "郡山市", "town": "朝日",
                 "street": "1-23-7", "building": "サンプル荘101"}
        return {f"{prefix}__{part}": value for part, value in parts.items()}, {}
    if kind == "file":
        if "png" in field.get("accept", ["png"]):
            return {}, {prefix: SimpleUploadedFile("photo.png", png(), content_type="image/png")}
        return {}, {prefix: SimpleUploadedFile("document.pdf", PDF, content_type="application/pdf")}
    if kind == "group":
        rows = max(field.get("min", 1), min(2, field.get("max", 10)))
        data, files = {f"{prefix}-count": str(rows)}, {}
        for row in range(rows):
            for child in field["fields"]:
                d, f = inputs_for(child, f"{prefix}-{row}-{child['key']}", today)
                data.update(d)
                files.update(f)
        return data, files
    return {prefix: value_for(field, today)}, {}


def step_inputs(schema: dict, step_key: str) -> tuple[dict, dict]:
    today = timezone.localdate()
    step = next(s for s in schema["steps"] if s["key"] == step_key)
    data, files = {}, {}
    for field in step["fields"]:
        d, f = inputs_for(field, field["key"], today)
        data.update(d)
        files.update(f)
    return data, files


def submit(client, code: str, schema: dict, *, max_pages: int = 40) -> tuple[str, list[str]]:
    """Walk the form of procedure `code` as a resident; returns (the draft's public id,
    the step keys visited). Fails the test with the page's errors if a step is refused."""
    response = client.post(f"/procedures/{code}/apply/")
    assert response.status_code == 302, response.content.decode()[:2000]
    location = response["Location"]
    public_id = re.search(r"/apply/([0-9a-f-]{36})/", location).group(1)
    visited = []
    for _ in range(max_pages):
        match = re.fullmatch(rf"/apply/{public_id}/([a-z0-9_-]+)/", location)
        assert match, location
        step_key = match.group(1)
        if step_key == "check":
            break
        visited.append(step_key)
        data, files = step_inputs(schema, step_key)
        response = client.post(location, {"action": "continue", **data, **files})
        assert response.status_code == 302, _problems(response, step_key)
        location = response["Location"]
    else:
        raise AssertionError("the form never reached its check page")
    page = client.get(location)
    assert page.status_code == 200, page.status_code
    response = client.post(location, {"consent": "yes"})
    assert response.status_code == 302 and response["Location"].endswith("/done/"), _problems(response, "check")
    return public_id, visited


def _problems(response, where: str) -> str:
    text = response.content.decode("utf-8", "replace")
    summary = re.search(r'<div class="error-summary".*?</div>', text, re.S)
    return f"{where}: {response.status_code} {re.sub(r'<[^>]+>', ' ', summary.group(0)) if summary else text[:1500]}"
