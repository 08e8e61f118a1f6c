"""The stand-in's fictional residents: the four basic items (基本4情報) as the card holds them.

Names carry characters outside JIS X 0208 on purpose (髙, 﨑, 𠮷 — the last outside the
Basic Multilingual Plane) and addresses run long with a building and room, because those
are what break forms and databases in practice. Every person, address and date here is
invented.
"""

from dataclasses import dataclass

DEMO_PIN = "1234"  # 利用者証明用電子証明書の暗証番号 (sign-in), printed on the stand-in's page
DEMO_SIGNING_PASSWORD = "ABC123"  # noqa: S105 (署名用電子証明書のパスワード; a printed demo value)


@dataclass(frozen=True)
class Resident:
    id: str
    name: str
    address: str
    birthdate: str  # YYYY-MM-DD
    gender: str  # male / female / other, as the OpenID claim


RESIDENTS = [
    Resident("r001", "髙橋 𠮷郎", "福島県郡山市朝日一丁目二十三番七号 サンプル第二コーポラス朝日 三〇五号室", "1985-04-12", "male"),
    Resident("r002", "渡邉 﨑子", "福島県郡山市富久山町久保田字愛宕二百十八番地の三 グランドメゾン富久山Ａ棟 一一〇二号室", "1992-11-03", "female"),
    Resident("r003", "齋藤 花子", "福島県郡山市虎丸町九番十五号", "1958-02-28", "female"),
    Resident("r004", "山﨑 陽翔", "福島県郡山市安積町日出山字神明下百二十三番地 日出山ハイツ 二〇一号室", "2001-07-30", "male"),
    Resident("r005", "石川 葵", "福島県郡山市熱海町熱海五丁目二百四十番地", "1976-09-09", "other"),
    Resident("r006", "德永 琢磨", "北海道札幌市中央区北一条西二丁目一番地 札幌市役所前ビルディング 二十八階 二八〇三号室", "1969-12-31", "male"),
]

BY_ID = {resident.id: resident for resident in RESIDENTS}
