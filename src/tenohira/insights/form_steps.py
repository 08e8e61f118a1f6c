"""Step statistics (フォームのステップ統計): how many residents started a form, reached each
of its pages, the check page, and sent it, and where they gave up.

Read from applications.StepReached, which holds no personal data. The period selects
drafts by the day they were started (a cohort), and every later page counts those same
drafts whenever they reached it: a draft started on the 31st and sent on the 1st is a
sent draft of the month it was started in, so each step's count can only fall.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count

from tenohira.applications.models import StepReached
from tenohira.applications.steps import CHECK, START, SUBMITTED


@dataclass
class Stage:
    key: str
    label: str
    reached: int
    dropped: int = 0  # of the previous stage's drafts, how many did not reach this one

    @property
    def dropped_rate(self) -> float | None:
        before = self.reached + self.dropped
        return round(100 * self.dropped / before, 1) if before else None


def stage_labels(definition) -> list[tuple[str, str]]:
    """(key, label) of every stage in form order: 開始, the steps of the live version (then
    steps only older versions had), 確認画面, 送信."""
    labels: list[tuple[str, str]] = []
    seen = set()
    versions = definition.versions.filter(status="published").order_by("-number")
    for version in versions[:20]:
        for step in version.parsed().steps:
            if step.key not in seen:
                seen.add(step.key)
                labels.append((step.key, step.title))
    return [(START, "開始"), *labels, (CHECK, "確認画面"), (SUBMITTED, "送信")]


def form_steps(definition, date_from: dt.date, date_to: dt.date) -> list[Stage]:
    """The stages of one form for the drafts started from date_from to date_to (JST days,
    both included). Two queries: the cohort's counts per page, and nothing else."""
    cohort = StepReached.objects.filter(
        definition=definition, step_key=START, day__gte=date_from, day__lte=date_to
    ).values("token")
    counts = dict(
        StepReached.objects.filter(definition=definition, token__in=cohort)
        .values_list("step_key").annotate(n=Count("pk")).order_by()
    )
    stages: list[Stage] = []
    for key, label in stage_labels(definition):
        reached = counts.get(key, 0)
        if key not in (START, CHECK, SUBMITTED) and not reached and not _current(definition, key):
            continue  # a step of an older version nobody in the period reached
        stage = Stage(key, label, reached)
        if stages:
            stage.dropped = max(0, stages[-1].reached - reached)
        stages.append(stage)
    return stages


def _current(definition, key: str) -> bool:
    version = definition.published_version()
    return version is not None and version.parsed().step(key) is not None
