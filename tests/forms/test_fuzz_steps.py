"""Every demo form's step pages under made-up POSTs (Hypothesis): whatever a request holds
(control characters, huge numbers, exponents, NaN, very long strings, several values for
one input, missing and extra inputs), the answer is a page, never a 5xx, and the draft
keeps only inputs its fields post.

Server time per request is measured and printed (`-s` shows it), never asserted: this
machine's load is not the code's cost. Examples are bounded (HYPOTHESIS_FUZZ_EXAMPLES,
25 per form) so the module takes well under a minute.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from django.test import Client
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import tenohira.catalog
import tenohira.forms
from tenohira.applications.models import Draft
from tenohira.applications.services import run_of
from tenohira.catalog.models import Procedure
from tenohira.forms.engine import _input_names
from tests.support.residents import card_identity, sign_in

DEMO_DIR = Path(tenohira.forms.__file__).resolve().parent / "demo"
DEMO_CATALOG = Path(tenohira.catalog.__file__).resolve().parent / "demo" / "sample_city.csv"
DEMO_CODES = sorted(p.stem for p in DEMO_DIR.glob("*.json"))
EXAMPLES = int(os.environ.get("HYPOTHESIS_FUZZ_EXAMPLES", "25"))

server_times: list[float] = []
slowest: list[tuple[float, str, str]] = [(0.0, "", "")]  # (seconds, url, what was sent, shortened)

# What an attacker or a broken client sends as one value.
hostile_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=200),
    st.sampled_from([
        "1e9999999", "-1e9999999", "9" * 5000, "Infinity", "-Infinity", "NaN", "sNaN", "1_000", "０x1F",
        "１２,３４５", "0.1e-99999", "令和99999999年1月1日", "R6.4.1", "\x00\x01\x1b[31m", "\u202e\ufeff",
        "<script>alert(1)</script>", "yes", "no", "' OR 1=1 --", "../../etc/passwd", "9" * 4301,
    ]),
    st.integers(min_value=1, max_value=30_000).map(lambda n: "あ" * n),
    st.from_regex(r"[+-]?[0-9]{1,30}(\.[0-9]{1,30})?([eE][+-]?[0-9]{1,12})?", fullmatch=True),
)
hostile_values = st.lists(hostile_text, min_size=1, max_size=4)


def actions_for(step) -> st.SearchStrategy[str]:
    groups = [f.key for f in step.fields if f.type == "group"]
    fixed = ["continue", "continue", "continue", "save_later", "bogus", "remove:nothing:1"]
    made = [f"add:{g}" for g in groups] + [f"remove:{g}:{i}" for g in groups for i in (0, 1, 999)]
    made += [f"remove_confirmed:{g}:0" for g in groups] + [f"lookup:{f.key}" for f in step.fields]
    return st.sampled_from(fixed + made)


@st.composite
def step_post(draw, step) -> dict:
    names = [name for fld in step.fields for name, _owner in _input_names(fld, fld.key)]
    chosen = draw(st.lists(st.sampled_from(names), unique=True, max_size=min(len(names), 25))) if names else []
    data = {name: draw(hostile_values) for name in chosen}
    extras = draw(st.dictionaries(st.text(min_size=1, max_size=30), hostile_values, max_size=3))
    data.update({k: v for k, v in extras.items() if k not in data})
    data["action"] = draw(actions_for(step))
    return data


@pytest.fixture
def demo_versions(db):
    from tenohira.catalog.services import import_catalog
    from tenohira.forms.services import publish

    import_catalog(DEMO_CATALOG)
    versions = {}
    for code in DEMO_CODES:
        schema = json.loads((DEMO_DIR / f"{code}.json").read_text(encoding="utf-8"))
        versions[code], _created = publish(Procedure.objects.get(code=code), schema)
    return versions


def post_timed(client: Client, url: str, data: dict):
    started = time.perf_counter()
    response = client.post(url, data)
    elapsed = time.perf_counter() - started
    server_times.append(elapsed)
    if elapsed > slowest[0][0]:
        shown = {k: [v[:20] + (f"…({len(v)})" if len(v) > 20 else "") for v in ([vs] if isinstance(vs, str) else vs)][:2]
                 for k, vs in data.items()}
        slowest[0] = (elapsed, url.rsplit("/", 2)[-2], str(shown)[:300])
    return response


@pytest.mark.parametrize("code", DEMO_CODES)
def test_step_posts_never_fail_and_store_only_the_forms_inputs(demo_versions, code):
    schema = demo_versions[code].parsed()
    allowed = {step.key: {n for f in step.fields for n, _o in _input_names(f, f.key)} for step in schema.steps}
    field_keys = {f.key for f in schema.all_fields()}

    # No shrinking: a request takes tens of milliseconds, and shrinking a failure could
    # take many minutes; the failing example is reported as it was found.
    @settings(max_examples=EXAMPLES, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                     HealthCheck.data_too_large])
    @given(st.tuples(*(step_post(step) for step in schema.steps)))
    def fuzz(posts):
        client = Client(HTTP_HOST="localhost")
        if demo_versions[code].definition.procedure.identity != "none":
            sign_in(client, card_identity())  # HJC asks for the My Number card
        response = client.post(f"/procedures/{code}/apply/")
        assert response.status_code == 302, response.status_code
        public_id = response["Location"].split("/")[2]
        for step, data in zip(schema.steps, posts, strict=True):
            response = post_timed(client, f"/apply/{public_id}/{step.key}/", data)
            assert response.status_code < 500, (step.key, data)
        draft = Draft.objects.get(public_id=public_id)
        for step_key, raw in draft.raw.items():
            assert set(raw) <= allowed[step_key], (step_key, set(raw) - allowed[step_key])
            assert all(len(v) <= 10_000 for values in raw.values() for v in values)
        assert set(run_of(draft).answers) <= field_keys
        assert client.get(f"/apply/{public_id}/check/").status_code < 500

    fuzz()
    print(f"\n{code}: {len(server_times)} step POSTs so far; slowest {slowest[0][0] * 1000:.0f} ms"
          f" (step {slowest[0][1]}: {slowest[0][2]})")
