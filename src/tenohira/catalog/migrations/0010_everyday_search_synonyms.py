"""More words residents type for what procedures are officially called.

Abbreviations (住基, 母子手帳, 特定健診, マイナカード), everyday words (はんこ, 入籍,
葬式, 駐輪場, 成人式, 情報公開), words of a sentence (生まれる, 引っ越す, 捨てる) and the
names of things every municipality's forms use (口座振替 / 引き落とし, 所得証明 /
税務証明). Each group holds in any municipality; the DX division edits them in the admin
(検索の言い換え) like the first ones (0002).

A group is added only when no group with the same words exists, and removing the
migration removes only the groups that were not edited since.
"""

from django.db import migrations

SYNONYMS = [
    ("マイナカード、マイナンバーカード、個人番号カード", "マイナンバーカード"),
    ("住基、住民基本台帳", "住民基本台帳"),
    ("母子手帳、母子健康手帳", "母子健康手帳"),
    ("健診、健康診査", "健診"),
    ("特定健診、特定健康診査", "健診"),
    ("保険証、被保険者証", "保険証"),
    ("生まれる、出生、誕生", "出産"),
    ("妊婦、妊産婦、妊娠", "出産"),
    ("入籍、婚姻、結婚", "結婚"),
    ("死亡、死去、死ぬ", "おくやみ"),
    ("葬儀、葬式、葬祭", "おくやみ"),
    ("印鑑、はんこ、判子、実印", "印鑑"),
    ("引っ越す、引越し、転居、転入、転出", "引越し"),
    ("住民税、市民税、市県民税、市町村民税", "税"),
    ("所得証明、所得証明書、課税証明、課税証明書、非課税証明、非課税証明書、税務証明", "税"),
    ("ふるさと納税、寄附金税額控除", "税"),
    ("ワンストップ特例、申告特例", "税"),
    ("口座振替、引き落とし、引落し、口座引落し", "口座振替"),
    ("捨てる、ごみ", "ごみ"),
    ("大型ごみ、粗大ごみ", "ごみ"),
    ("コンポスト、生ごみ処理機", "ごみ"),
    ("持ち込み、搬入", "ごみ"),
    ("ひとり親、母子家庭、父子家庭、児童扶養手当", "子ども"),
    ("子ども手当、児童手当", "子ども"),
    ("学区、通学区域", "学校"),
    ("成人式、二十歳のつどい、二十歳の集い、はたちのつどい", "成人式"),
    ("公営住宅、市営住宅", "住宅"),
    ("駐輪場、自転車駐車場、自転車等駐車場", "駐輪場"),
    ("開栓、使用開始", "水道"),
    ("閉栓、使用中止", "水道"),
    ("情報公開、公文書開示", "情報公開"),
    ("体育館、体育施設", "施設"),
]


def _words(terms: str) -> frozenset[str]:
    return frozenset(term.strip() for term in terms.split("、") if term.strip())


def add(apps, schema_editor):
    SynonymGroup = apps.get_model("catalog", "SynonymGroup")
    existing = {_words(group.terms) for group in SynonymGroup.objects.all()}
    SynonymGroup.objects.bulk_create(
        SynonymGroup(terms=terms, note=note) for terms, note in SYNONYMS if _words(terms) not in existing
    )


def remove(apps, schema_editor):
    SynonymGroup = apps.get_model("catalog", "SynonymGroup")
    ours = {terms for terms, _note in SYNONYMS}
    SynonymGroup.objects.filter(terms__in=ours).delete()


class Migration(migrations.Migration):
    dependencies = [("catalog", "0004_channels_and_first_steps")]
    operations = [migrations.RunPython(add, remove)]
