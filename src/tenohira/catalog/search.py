"""Japanese search over the procedure catalog.

How a query meets a procedure:

* Both sides are folded by `core.text.normalize` (width, case, katakana→hiragana, small
  kana, long-vowel marks, punctuation), so ﾏｲﾅﾝﾊﾞｰ, マイナンバー and まいなんばー meet.
* Both sides are also read by the morphological analyser (`core.reading`), so kana
  finds kanji (ほいく → 保育) and okurigana variants meet (申込 / 申し込み → もうしこみ).
* Each word is expanded with its synonym group (引越し → 転居, 転入, 転出 ...), editable
  by the DX division in the admin (SynonymGroup).
* Several words must all match (保育 証明); each may match anywhere in the procedure.

The index is four normalised text columns on Procedure; a query is one scan with
LIKE '%...%'. A few thousand procedures (a whole city's inventory) fit that easily;
bench/search_bench.py measures it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import reduce
from operator import add, or_

from django.db.models import Case, IntegerField, Q, QuerySet, Value, When

from tenohira.core.reading import content_words, reading
from tenohira.core.text import has_kanji, normalize, split_terms

# Separates fields inside one index column; normalize() removes it from queries, so a
# query can never match across two fields.
SEP = "|"

# Ranking: the name beats keywords beats the rest; direct spellings beat synonyms and
# sound-alikes. Ties are broken by annual applications (the busiest procedure first).
SCORE_EXACT_NAME = 1000
SCORE_NAME = 200
SCORE_READING = 150
SCORE_KEYWORD = 100
SCORE_SYNONYM_NAME = 80
SCORE_SOUND_ALIKE = 60
SCORE_SYNONYM = 50
SCORE_OTHER = 10

# A reading shorter than this (子 → こ) would match half the catalog.
MIN_READING_LENGTH = 2


def index_procedure(procedure) -> None:
    """Fill a procedure's reading (if empty) and its search columns. Does not save."""
    if not procedure.reading:
        procedure.reading = reading(procedure.name)
    keywords = split_terms(procedure.keywords)
    section = procedure.section
    procedure.search_name = normalize(procedure.name)
    procedure.search_reading = normalize(procedure.reading)
    procedure.search_keywords = SEP.join(
        part for keyword in keywords for part in (normalize(keyword), normalize(reading(keyword)))
    )
    events = [event.name for event in procedure.life_events.all()] if procedure.pk else []
    procedure.search_other = SEP.join(
        normalize(text)
        for text in (procedure.code, section.name, section.department.name, *events, procedure.summary)
        if text
    )


def reindex(procedures) -> None:
    """Refresh the search columns of stored procedures after a related change (a renamed
    section, changed life events) without touching updated_at."""
    from tenohira.catalog.models import Procedure

    for procedure in procedures:
        index_procedure(procedure)
        Procedure.objects.filter(pk=procedure.pk).update(
            **{column: getattr(procedure, column) for column in _COLUMNS}
        )


# --- query analysis ---------------------------------------------------------------------


def _forms(term: str) -> set[str]:
    """Normalised spelling and reading of one word."""
    forms = {normalize(term)}
    sound = normalize(reading(term))
    if len(sound) >= MIN_READING_LENGTH:
        forms.add(sound)
    return {form for form in forms if form}


@dataclass
class SynonymIndex:
    groups: dict[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def build(cls, term_lists) -> SynonymIndex:
        groups: dict[str, frozenset[str]] = {}
        for terms in term_lists:
            members = frozenset(form for term in terms for form in _forms(term))
            for term in terms:
                for form in _forms(term):
                    groups[form] = groups.get(form, frozenset()) | members
        return cls(groups)

    def expand(self, forms: set[str]) -> set[str]:
        found: set[str] = set()
        for form in forms:
            found |= self.groups.get(form, frozenset())
        return found - forms


_synonym_cache: tuple[float, SynonymIndex] | None = None
SYNONYM_CACHE_SECONDS = 30


def synonym_index() -> SynonymIndex:
    """Synonym groups from the database, rebuilt at most every 30 s (and at once in the
    process that edits them, see signals)."""
    global _synonym_cache
    now = time.monotonic()
    if _synonym_cache is None or now - _synonym_cache[0] > SYNONYM_CACHE_SECONDS:
        from tenohira.catalog.models import SynonymGroup

        index = SynonymIndex.build(group.term_list for group in SynonymGroup.objects.all())
        _synonym_cache = (now, index)
    return _synonym_cache[1]


def forget_synonyms() -> None:
    global _synonym_cache
    _synonym_cache = None


@dataclass
class Term:
    """One word of a query with the forms it may take in the index."""

    typed: str
    surface: str  # normalised spelling
    sound: str  # normalised reading ("" when too short)
    synonyms: set[str]

    @property
    def is_kana(self) -> bool:
        return not has_kanji(self.typed)

    @property
    def all_forms(self) -> set[str]:
        return {self.surface, self.sound, *self.synonyms} - {""}


def analyse(query: str, synonyms: SynonymIndex | None = None) -> list[Term]:
    synonyms = synonyms if synonyms is not None else synonym_index()
    terms = []
    for word in split_terms(query):
        surface = normalize(word)
        if not surface:
            continue
        sound = normalize(reading(word))
        if len(sound) < MIN_READING_LENGTH:
            sound = ""
        direct = {surface, sound} - {""}
        terms.append(Term(word, surface, sound, synonyms.expand(direct)))
    return terms


# --- matching and ranking -----------------------------------------------------------------

_COLUMNS = ("search_name", "search_reading", "search_keywords", "search_other")


def _contains_any(column: str, forms) -> Q:
    return reduce(or_, (Q(**{f"{column}__contains": form}) for form in sorted(forms)), Q(pk__in=[]))


def _term_filter(term: Term) -> Q:
    return reduce(or_, (_contains_any(column, term.all_forms) for column in _COLUMNS))


def _term_score(term: Term) -> Case:
    whens = [When(search_name__contains=term.surface, then=Value(SCORE_NAME))]
    if term.sound:
        sound_score = SCORE_READING if term.is_kana else SCORE_SOUND_ALIKE
        whens.append(When(search_reading__contains=term.sound, then=Value(sound_score)))
    whens.append(When(_contains_any("search_keywords", {term.surface, term.sound} - {""}),
                      then=Value(SCORE_KEYWORD)))
    whens.sort(key=lambda when: -when.result.value)
    if term.synonyms:
        whens.append(When(_contains_any("search_name", term.synonyms), then=Value(SCORE_SYNONYM_NAME)))
        whens.append(
            When(
                _contains_any("search_keywords", term.synonyms)
                | _contains_any("search_reading", term.synonyms),
                then=Value(SCORE_SYNONYM),
            )
        )
    return Case(*whens, default=Value(SCORE_OTHER), output_field=IntegerField())


def rank(queryset: QuerySet, terms: list[Term], query: str) -> QuerySet:
    """Filter `queryset` to procedures matching every term, best first."""
    if not terms:
        return queryset.none()
    queryset = queryset.filter(reduce(lambda a, b: a & b, (_term_filter(t) for t in terms)))
    whole = normalize(query)
    # The whole query is the name, or (typed in kana) the name's reading.
    exact = Case(
        When(Q(search_name=whole) | Q(search_reading=whole), then=Value(SCORE_EXACT_NAME)),
        default=Value(0),
        output_field=IntegerField(),
    )
    score = reduce(add, (_term_score(term) for term in terms), exact)
    return queryset.annotate(score=score).order_by("-score", "-annual_applications", "name", "pk")


def search(queryset: QuerySet, query: str) -> tuple[QuerySet, list[Term]]:
    """Ranked matches for `query`. When a single phrase finds nothing, its content words
    are tried together (保育園の申し込み → 保育園 + 申し込み)."""
    terms = analyse(query)
    results = rank(queryset, terms, query)
    if len(terms) == 1 and not results.exists():
        words = content_words(terms[0].typed)
        if len(words) > 1:
            terms = analyse(" ".join(words))
            results = rank(queryset, terms, query)
    return results, terms
