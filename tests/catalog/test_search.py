"""Japanese search over the catalog: whatever the resident typed, the procedure is found.

The catalog is `search_catalog` (tests/catalog/conftest.py): 25 procedures in 5
departments, some with よみ and キーワード, some without; or `names_only` (the end of
this file): 92 real procedure names with nothing else, as an inventory arrives. Synonym
groups are the ones migrations 0002 and 0010 seed.
"""

from pathlib import Path

import jaconv
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tenohira.catalog import search
from tenohira.catalog.models import Department, LifeEvent, Procedure, Section, SynonymGroup
from tenohira.catalog.selectors import search_procedures
from tenohira.catalog.services import import_catalog
from tenohira.core.reading import reading_variants
from tenohira.core.text import normalize

pytestmark = pytest.mark.django_db


def codes(query: str, **kwargs) -> list[str]:
    results, _terms = search_procedures(query, **kwargs)
    return [procedure.code for procedure in results]


def found(query: str) -> set[str]:
    return set(codes(query))


HOIKU = {"HIK", "HSM", "GHG"}  # 保育所等の利用申込, 保育所等入所（在園）証明書の交付, 学童保育の利用料減免申請


# --- scripts and widths ----------------------------------------------------------------


@pytest.mark.parametrize("query", ["ほいく", "ホイク", "保育", "ﾎｲｸ", "　ほいく　", "ﾎｲｸ ﾎｲｸ"])
def test_hiragana_katakana_kanji_and_half_width_find_the_hoiku_procedures(search_catalog, query):
    assert found(query) == HOIKU


@pytest.mark.parametrize("query", ["ﾏｲﾅﾝﾊﾞｰ", "マイナンバー", "まいなんばー", "ﾏｲﾅﾝﾊﾞｰｶｰﾄﾞ"])
def test_my_number_in_full_and_half_width(search_catalog, query):
    assert codes(query)[0] == "MNC"


@pytest.mark.parametrize("query", ["ＰＣＲ", "PCR", "pcr", "ｐｃｒ", "ＰＣＲ検査", "pcr検査"])
def test_latin_letters_in_full_and_half_width_and_any_case(search_catalog, query):
    assert codes(query) == ["PCR"]


# --- okurigana, long vowels, small kana --------------------------------------------------


def test_okurigana_variants_find_the_same_procedures(search_catalog):
    # SDG/HIK/CMP are named ...申込, SKT ...申し込み.
    expected = {"SDG", "HIK", "CMP", "SKT"}
    assert found("申込") == expected
    assert found("申し込み") == expected
    assert found("申込み") == expected
    assert found("もうしこみ") == expected


def test_the_spelling_the_resident_typed_ranks_first(search_catalog):
    assert codes("申し込み")[0] == "SKT"
    assert codes("申込")[-1] == "SKT"


@pytest.mark.parametrize("query", ["コンピュータ", "コンピューター", "ｺﾝﾋﾟｭｰﾀｰ", "こんぴゅーた", "コンピュ－タ"])
def test_long_vowel_variants(search_catalog, query):
    assert codes(query) == ["CMP"]


@pytest.mark.parametrize("query", ["キャッシュレス", "キヤツシユレス", "きゃっしゅれす", "ｷｬｯｼｭﾚｽ", "キャッシューレス"])
def test_small_kana_variants(search_catalog, query):
    assert codes(query) == ["CSL"]


# --- synonyms (seeded by migration 0002) --------------------------------------------------


@pytest.mark.parametrize("query", ["引越し", "引っ越し", "ひっこし", "転居", "転入", "転出", "住所変更"])
def test_moving_synonyms(search_catalog, query):
    assert {"TNY", "TNS", "TNK"} <= found(query)


@pytest.mark.parametrize(("query", "first"), [("転居", "TNK"), ("転入", "TNY"), ("転出", "TNS")])
def test_the_word_itself_ranks_above_its_synonyms(search_catalog, query, first):
    assert codes(query)[0] == first


@pytest.mark.parametrize("query", ["ごみ", "ゴミ", "ｺﾞﾐ", "粗大ごみ", "粗大ゴミ", "そだいごみ"])
def test_garbage_synonyms(search_catalog, query):
    assert codes(query) == ["SDG"]


@pytest.mark.parametrize("query", ["いぬ", "イヌ", "犬", "畜犬", "ちくけん"])
def test_dog_synonyms(search_catalog, query):
    assert found(query) == {"CKT", "KYB"}  # 犬の登録（畜犬登録）, 狂犬病予防注射済票の交付


@pytest.mark.parametrize(("query", "first"), [("マイナンバー", "MNC"), ("個人番号", "KJB"), ("こじんばんごう", "KJB")])
def test_my_number_synonyms(search_catalog, query, first):
    results = codes(query)
    assert set(results) == {"MNC", "KJB"}
    assert results[0] == first


@pytest.mark.parametrize("query", ["こども", "子ども", "子供", "児童", "コドモ"])
def test_children_synonyms(search_catalog, query):
    # 子ども医療費助成, 児童手当の認定請求, 放課後児童クラブ入所申請
    assert {"KIR", "JDT", "HKG"} <= found(query)


# --- partial words, several words, derived readings --------------------------------------


def test_two_character_partial_words(search_catalog):
    assert codes("住民") == ["HJC"]
    assert found("保育") == HOIKU
    assert codes("届")[:3] == ["TNY", "TNS", "TNK"]


@pytest.mark.parametrize("query", ["保育 証明", "保育　証明", "証明 保育", "ほいく しょうめい", "保育、証明書"])
def test_several_words_must_all_match(search_catalog, query):
    assert codes(query) == ["HSM"]


def test_a_phrase_falls_back_to_its_content_words(search_catalog):
    assert codes("保育所の申し込み") == ["HIK"]


@pytest.mark.parametrize(
    ("query", "code"),
    [("ちくけんとうろく", "CKT"), ("ざいえんしょうめい", "HSM"), ("てんにゅうとどけ", "TNY"),
     ("きょうけんびょう", "KYB"), ("ジドウテアテ", "JDT")],
)
def test_names_imported_without_reading_are_found_in_kana(search_catalog, query, code):
    assert Procedure.objects.get(code=code).reading  # derived by the importer
    assert code in found(query)


def test_keywords_are_searched(search_catalog):
    assert codes("家具") == ["SDG"]
    assert codes("べっど") == ["SDG"]
    assert codes("コンビニ交付") == ["HJC"]


def test_any_kana_rewrite_of_a_reading_finds_the_procedure(search_catalog):
    readings = {code: p.reading for code, p in search_catalog.items() if p.is_published}

    def rewrite(char: str, script: str) -> str:
        if script == "hiragana":
            return char
        katakana = jaconv.hira2kata(char)
        return katakana if script == "katakana" else jaconv.z2h(katakana, kana=True)

    @settings(deadline=None, max_examples=200)
    @given(st.data())
    def check(data):
        code = data.draw(st.sampled_from(sorted(readings)))
        reading = readings[code]
        start = data.draw(st.integers(min_value=0, max_value=len(reading) - 2))
        end = data.draw(st.integers(min_value=start + 2, max_value=len(reading)))
        fragment = reading[start:end]
        scripts = data.draw(st.lists(st.sampled_from(["hiragana", "katakana", "half-width"]),
                                     min_size=len(fragment), max_size=len(fragment)))
        query = "".join(rewrite(char, script) for char, script in zip(fragment, scripts, strict=True))
        if normalize(query):
            assert code in found(query), (code, reading, query)

    check()


# --- ranking -------------------------------------------------------------------------------


def test_exact_name_ranks_first_even_with_fewer_applications(search_catalog):
    # 印鑑登録証明書の交付 has 20,000 applications a year, 印鑑登録 3,000.
    assert codes("印鑑登録") == ["INK", "INS"]


def test_name_matches_rank_above_keyword_only_matches(search_catalog):
    # YBS (900/year) has ワクチン only as a keyword; CVS (100/year) has it in its name.
    assert codes("ワクチン") == ["CVS", "YBS"]
    # HKG (1,500/year) has 学童 as a keyword; GHG (50/year) in its name.
    assert codes("学童") == ["GHG", "HKG"]


def test_ties_are_broken_by_annual_applications(search_catalog):
    results = codes("届")
    assert results == ["TNY", "TNS", "TNK", "KKH"]
    volumes = [search_catalog[code].annual_applications for code in results]
    assert volumes == sorted(volumes, reverse=True)
    hoiku = codes("保育")
    assert hoiku == sorted(hoiku, key=lambda code: -search_catalog[code].annual_applications)


def test_department_filter(search_catalog):
    kodomo = Department.objects.get(name="こども部")
    assert set(codes("申込", department_id=kodomo.pk)) == {"HIK"}


# --- no match, unpublished --------------------------------------------------------------


@pytest.mark.parametrize("query", ["温泉旅館", "宇宙旅行", "ｘｙｚｚｙ", "、、、", "ー"])
def test_a_query_with_no_match_returns_nothing(search_catalog, query):
    assert codes(query) == []


def test_no_match_page_suggests_life_events_and_departments(search_catalog, web):
    response = web.get("/search/", {"q": "温泉旅館"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "「温泉旅館」に当てはまる手続きは見つかりませんでした" in page
    assert 'href="/life-events/moving/"' in page
    assert 'href="/life-events/pets/"' in page
    for department in Department.objects.all():
        assert f'href="/departments/{department.pk}/"' in page
        assert department.name in page


def test_unpublished_procedures_are_never_found(search_catalog):
    assert codes("内部監査資料の閲覧申請") == []
    assert codes("閲覧") == []
    assert "HIDDEN" not in found("申請")


# --- the index follows changes -------------------------------------------------------------


def test_a_new_synonym_group_works_at_once(search_catalog):
    assert codes("わんちゃん") == []  # also fills the synonym cache
    group = SynonymGroup.objects.create(terms="わんちゃん、犬")
    assert found("わんちゃん") == {"CKT", "KYB"}
    assert found("ワンチャン") == {"CKT", "KYB"}
    group.delete()
    assert codes("わんちゃん") == []


def test_an_edited_synonym_group_works_at_once(search_catalog):
    assert codes("ワンコ") == []
    group = SynonymGroup.objects.get(terms__startswith="犬")
    group.terms += "、ワンコ"
    group.save()
    assert found("ワンコ") == {"CKT", "KYB"}


def test_renaming_a_section_updates_results(search_catalog):
    assert codes("動物愛護") == []
    section = Section.objects.get(name="環境衛生課")
    before = {p.pk: p.updated_at for p in section.procedures.all()}
    section.name = "動物愛護センター"
    section.save()
    assert found("動物愛護") == {"CKT", "KYB"}
    assert codes("環境衛生") == []
    # Reindexing is not an edit of the procedure.
    assert {p.pk: p.updated_at for p in section.procedures.all()} == before


def test_renaming_a_department_updates_results(search_catalog):
    department = Department.objects.get(name="健康福祉部")
    department.name = "保健医療部"
    department.save()
    assert found("保健医療部") == {"PCR", "YBS", "CVS"}
    assert codes("健康福祉部") == []


def test_changing_a_procedures_life_events_updates_results(search_catalog):
    disaster = LifeEvent.objects.get(slug="disaster")
    assert codes(disaster.name) == []
    dog = Procedure.objects.get(code="CKT")
    dog.life_events.add(disaster)
    assert codes(disaster.name) == ["CKT"]
    disaster.procedures.add(Procedure.objects.get(code="KYB"))  # from the other side
    assert found(disaster.name) == {"CKT", "KYB"}
    dog.life_events.remove(disaster)
    assert codes(disaster.name) == ["KYB"]
    disaster.procedures.clear()
    assert codes(disaster.name) == []


def test_deleting_a_life_event_updates_results(search_catalog):
    pets = LifeEvent.objects.get(slug="pets")
    assert found(pets.name) == {"CKT", "KYB"}
    pets.delete()
    assert codes("ペット") == []


def test_renaming_a_life_event_updates_results(search_catalog):
    pets = LifeEvent.objects.get(slug="pets")
    pets.name = "どうぶつと暮らす"
    pets.save()
    assert found("どうぶつと暮らす") == {"CKT", "KYB"}


def test_editing_a_procedure_reindexes_it(search_catalog):
    procedure = Procedure.objects.get(code="SDG")
    procedure.keywords = "ソファー、たんす"
    procedure.save()
    assert codes("そふぁ") == ["SDG"]
    assert codes("家具") == []
    procedure.name = "大型ごみの戸別収集"
    procedure.reading = ""
    procedure.save()
    assert codes("おおがた") == ["SDG"]
    assert Procedure.objects.get(code="SDG").reading == "おおがたごみのこべつしゅうしゅう"


# --- a names-only catalog: what residents mean (issue 9, item 12) --------------------------

NAMES_ONLY = Path(__file__).parent / "data" / "search_names_only_catalog.csv"


@pytest.fixture
def names_only(db):
    """92 real names (部局, 所属, 手続名 only) through the real importer: {name: Procedure}."""
    result = import_catalog(NAMES_ONLY)
    assert result.created == result.readings_derived == 92
    return {p.name: p for p in Procedure.objects.all()}


def top3(query: str) -> list[str]:
    results, _terms = search_procedures(query)
    return [procedure.name for procedure in results[:3]]


def test_every_procedure_of_a_names_only_catalog_is_found_by_its_reading_in_kana(names_only):
    for name, procedure in names_only.items():
        hiragana = procedure.reading
        assert hiragana and normalize(hiragana) == normalize(jaconv.kata2hira(hiragana)), (name, hiragana)
        # The whole reading is the name said aloud: it ranks first, in either script.
        assert top3(hiragana)[0] == name, (name, hiragana)
        assert top3(jaconv.hira2kata(hiragana))[0] == name, (name, hiragana)
        assert top3(jaconv.z2h(jaconv.hira2kata(hiragana), kana=True))[0] == name, (name, hiragana)


MOVING = {"転入届", "転出届", "転居届"}


@pytest.mark.parametrize("query", ["ひっこし", "引っ越し", "引越し", "引越", "ヒッコシ", "引っ越し 手続き"])
def test_moving_brings_the_three_moving_forms_to_the_top(names_only, query):
    assert set(top3(query)) == MOVING


@pytest.mark.parametrize(
    ("query", "meant"),
    [
        # readings with variants
        ("しゅっせいとどけ", "出生届"), ("しゅっしょうとどけ", "出生届"), ("しゅっせい", "出生届"),
        ("いっときあずかり", "一時預かり利用申請"),
        # abbreviations
        ("国保", "国民健康保険の加入・脱退の届出"), ("こくほ", "国民健康保険の加入・脱退の届出"),
        ("けんしん", "がん検診の申込"), ("けんしん", "特定健康診査受診券の再発行申請"),
        ("健診", "がん検診の申込"), ("特定健診", "特定健康診査受診券の再発行申請"),
        ("母子手帳", "母子健康手帳の交付"), ("ぼしてちょう", "母子健康手帳の交付"),
        ("住基", "住民基本台帳の一部の写しの閲覧申出"),
        ("マイナ", "マイナンバーカード（個人番号カード）の交付申請"),
        ("マイナカード", "マイナンバーカード（個人番号カード）の交付申請"),
        # everyday words
        ("ごみ", "粗大ごみの収集申込"), ("赤ちゃん", "出生届"), ("保育園", "保育施設等の利用申込"),
        ("犬", "犬の登録"), ("結婚", "婚姻届"), ("入籍", "婚姻届"), ("離婚", "離婚届"),
        ("亡くなった", "死亡届"), ("印鑑", "印鑑登録申請"), ("はんこ", "印鑑登録申請"),
        ("成人式", "ハタチのつどい参加申請"), ("駐輪場", "自転車等駐車場定期券交付申請"),
    ],
)
def test_what_residents_type_finds_the_official_name(names_only, query, meant):
    assert meant in top3(query)


@pytest.mark.parametrize(
    ("query", "meant"),
    [
        ("家族が亡くなりました", "死亡届"),  # 亡くなる: the dictionary form meets the synonym group
        ("赤ちゃんが生まれた", "出生届"),
        ("犬を飼い始めた", "犬の登録"),  # 始める only helps 飼う: it is no word of the query
        ("結婚届", "婚姻届"),  # the compound cut: 結婚 + 届
        ("保育所の申し込み", "保育施設等の利用申込"),
    ],
)
def test_a_sentence_is_read_as_its_words(names_only, query, meant):
    assert meant in top3(query)


def test_a_kana_compound_finds_a_name_with_a_word_between_its_halves(names_only):
    # 要介護・要支援認定の申請 reads ようかいごようしえんにんていのしんせい.
    assert top3("かいごにんてい")[0] == "要介護・要支援認定の申請"


def test_a_section_is_found_in_kana(names_only):
    assert top3("としょかん") == ["利用カード申込"]  # 中央図書館's only procedure


def test_a_word_no_procedure_uses_does_not_hide_the_others(names_only):
    # No name says 手続き or 予約; at least half the words must still match.
    assert set(top3("引っ越し 手続き")) == MOVING
    assert top3("公民館 予約")[0] == "公民館使用許可申請"
    # The rarer word leads when each result has only one of them.
    assert top3("学童保育 申し込み")[0] == "放課後児童クラブ入所申請"


@pytest.mark.parametrize("query", ["宇宙 旅行 許可", "宇宙旅行", "ふじさんのぼり", "温泉 旅館"])
def test_half_a_query_that_means_nothing_here_still_finds_nothing(names_only, query):
    # 宇宙 only sounds like part of よぼうちゅうしゃ: a sound-alike is no evidence alone.
    assert top3(query) == []


def test_reading_variants_are_whole_readings_with_one_word_read_the_other_way():
    assert reading_variants("出生届", "しゅっしょうとどけ") == ["しゆつしようとどけ", "しゆつせいとどけ"]
    assert reading_variants("転入届", "てんにゅうとどけ") == ["てんにゆうとどけ"]
    assert len(reading_variants("出生出生一時一時二十歳", "しゅっしょう" * 2 + "いちじ" * 2 + "はたち")) == 8


def test_only_the_first_words_of_a_long_query_are_looked_at(names_only):
    words = ["犬", "登録"] + ["あいうえお"] * 40
    assert len(search.analyse(" ".join(words))) == search.MAX_TERMS
    # Eight words are looked at, and two matching words are fewer than half of them.
    assert top3(" ".join(["犬", "登録"] + ["わんわん"] * 40)) == []


def test_one_kana_among_other_words_is_no_word(names_only):
    assert [term.typed for term in search.analyse("犬 の 登録")] == ["犬", "登録"]
    assert [term.typed for term in search.analyse("の")] == ["の"]  # alone, it is what was asked
    assert top3("犬 の 登録")[0] == "犬の登録"
