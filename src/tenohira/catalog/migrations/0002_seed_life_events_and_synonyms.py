"""Life events and search synonyms every municipality starts with.

Both stay editable in the admin; this migration only seeds them (and leaves anything a
municipality added or changed alone when run again).
"""

from django.db import migrations

LIFE_EVENTS = [
    ("moving", "引越し", "ひっこし", "市内での転居、市外からの転入、市外への転出のときの手続き。"),
    ("pregnancy", "妊娠・出産", "にんしん・しゅっさん", "妊娠がわかったとき、赤ちゃんが生まれたときの手続き。"),
    ("childcare", "子育て", "こそだて", "児童手当、保育所、医療費の助成など子育ての手続き。"),
    ("school", "入園・入学", "にゅうえん・にゅうがく", "保育所・幼稚園・小中学校に入るときの手続き。"),
    ("marriage", "結婚・離婚", "けっこん・りこん", "婚姻届や離婚届と、それに伴う名前や住所の変更。"),
    ("employment", "就職・退職", "しゅうしょく・たいしょく", "健康保険や年金の切り替えなど、仕事が変わるときの手続き。"),
    ("care", "介護", "かいご", "要介護認定や介護サービスなど、介護が必要になったときの手続き。"),
    ("elderly", "高齢者", "こうれいしゃ", "後期高齢者医療や高齢者の福祉サービスの手続き。"),
    ("disability", "障がい", "しょうがい", "障害者手帳や福祉サービス、医療費の助成の手続き。"),
    ("bereavement", "おくやみ", "おくやみ", "ご家族が亡くなられたときに必要な手続き。"),
    ("disaster", "災害にあったとき", "さいがいにあったとき", "罹災証明書や支援金など、災害で被害を受けたときの手続き。"),
    ("housing", "住まい", "すまい", "市営住宅、住宅の建築やリフォームの補助などの手続き。"),
    ("waste", "ごみ・リサイクル", "ごみ・りさいくる", "粗大ごみの収集、家電や事業系ごみの手続き。"),
    ("pets", "ペット", "ぺっと", "犬の登録や狂犬病予防注射など、ペットを飼うときの手続き。"),
    ("health", "健康・医療", "けんこう・いりょう", "健診、予防接種、医療費の助成などの手続き。"),
    ("tax", "税金", "ぜいきん", "市民税・固定資産税・軽自動車税の申告や証明書の手続き。"),
    ("business", "事業者の方", "じぎょうしゃのかた", "入札、許可、補助金など事業者向けの手続き。"),
]

# Words a resident may type for the same thing. Each line is one group.
SYNONYMS = [
    ("引越し、引っ越し、転居、転入、転出、住所変更", "引越し"),
    ("ごみ、ゴミ、粗大ごみ、廃棄物", "ごみ"),
    ("犬、いぬ、畜犬、飼い犬", "犬"),
    ("マイナンバー、個人番号", "マイナンバー"),
    ("マイナンバーカード、個人番号カード", "マイナンバーカード"),
    ("子ども、こども、子供、児童", "子ども"),
    ("保育園、保育所、保育施設", "保育"),
    ("亡くなった、死亡、おくやみ、お悔やみ", "おくやみ"),
    ("赤ちゃん、出生、出産、誕生", "出産"),
    ("障がい、障害、障碍", "障がい"),
    ("国保、国民健康保険", "国民健康保険"),
    ("年金、国民年金", "年金"),
    ("住民票、住民票の写し", "住民票"),
    ("印鑑証明、印鑑登録証明書", "印鑑"),
    ("税金、税", "税"),
    ("水道、上水道、下水道", "水道"),
    ("災害、被災、罹災", "災害"),
    ("結婚、婚姻", "結婚"),
    ("お年寄り、高齢者、シニア", "高齢者"),
    ("学童、学童保育、放課後児童クラブ", "学童"),
    ("ワクチン、予防接種", "予防接種"),
    ("健診、検診、健康診断", "健診"),
    ("コンビニ交付、コンビニ", "コンビニ"),
]


def seed(apps, schema_editor):
    LifeEvent = apps.get_model("catalog", "LifeEvent")
    SynonymGroup = apps.get_model("catalog", "SynonymGroup")
    for order, (slug, name, reading, description) in enumerate(LIFE_EVENTS, start=1):
        LifeEvent.objects.get_or_create(
            slug=slug, defaults={"name": name, "reading": reading, "description": description, "order": order}
        )
    if not SynonymGroup.objects.exists():
        SynonymGroup.objects.bulk_create(SynonymGroup(terms=terms, note=note) for terms, note in SYNONYMS)


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
