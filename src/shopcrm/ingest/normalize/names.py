"""Personal names from shop exports: one clean spelling, and what sort of name it is.

Names are not matching keys on their own (many people share one), but identity
resolution uses them to confirm or veto a match, and the CRM shows them. So cleaning
removes only what exports add (full-width forms, spreadsheet decorations, stray
spaces inside Chinese names, look-alike middle dots) and never rewrites the name:
Chinese stays Chinese, traditional stays traditional, Latin keeps its case.

``name_kind`` tells a full name from '王先生' (a surname and a title: the courier was
told only that much), a platform nickname ('tb_12345', '快乐的小鱼儿') or something it
cannot judge. It is a heuristic; it errs towards 'unknown' rather than 'full', because
a 'full' name carries weight in a merge decision.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final, Literal

NameKind = Literal["full", "surname_title", "nickname", "unknown"]

_NULLS: Final = frozenset(
    {
        "-", "--", "---", "null", "none", "nan", "n/a", "#n/a", "undefined", "nil",
        "无", "暂无", "未知", "空",
    }
)  # fmt: skip
#: Control and invisible characters; zero-width ones are common in copied text.
_JUNK_RE: Final = re.compile("[\u0000-\u001f\u007f-\u009f]")
_INVISIBLE_RE: Final = re.compile("[\u00ad\u034f\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]")
_QUOTES: Final = "'\"`‘’“”「」『』"
_FORMULA_RE: Final = re.compile(r'=\s*"(.*)"', re.S)
#: Look-alikes of the interpunct that separates parts of transliterated and minority
#: names ('阿卜杜拉·买买提'); one spelling makes the same name compare equal.
_DOTS_RE: Final = re.compile("[\u2022\u2027\u30fb\u2219\u22c5\u00b7\u0387\u16eb\u2e31\u318d]")
_CJK: Final = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_CJK_SPACE_RE: Final = re.compile(rf"(?<=[{_CJK}·])\s+(?=[{_CJK}·])")
_CJK_PERIOD_RE: Final = re.compile(rf"(?<=[{_CJK}])\s*\.\s*(?=[{_CJK}])")
_CJK_ONLY_RE: Final = re.compile(rf"[{_CJK}]+(?:·[{_CJK}]+)*")
_LATIN_WORD_RE: Final = re.compile(r"[^\W\d_]+(?:['’.-][^\W\d_]*)*\.?")
_HAS_CJK_RE: Final = re.compile(rf"[{_CJK}]")
_DOT_SPACES_RE: Final = re.compile(r"\s*·\s*")


def _words(text: str) -> list[str]:
    """Split a space-separated word list (keeps the long tables below compact)."""
    return text.split()


def _strip_once(s: str) -> str:
    s = s.strip()
    if s.startswith("="):
        m = _FORMULA_RE.fullmatch(s)
        if m:
            s = m.group(1)
    return s.strip(_QUOTES).strip().strip("·").strip()


def normalize_name(raw: str | None) -> str | None:
    """Clean one name value; ``None`` when nothing name-like is left. Never raises."""
    if raw is None:
        return None
    if raw.__class__ is not str:
        raw = "" if isinstance(raw, bool) else str(raw)
    s = raw
    if not s.isprintable():  # control and invisible (Cf) characters are not printable
        s = _JUNK_RE.sub(" ", _INVISIBLE_RE.sub("", s))
    if not s.isascii():
        s = _DOTS_RE.sub("·", unicodedata.normalize("NFKC", s))
    for _ in range(4):
        before = s
        s = _strip_once(s)
        if s == before:
            break
    s = " ".join(s.split())
    if not s.isascii():
        if "." in s:
            s = _CJK_PERIOD_RE.sub("·", s)
        if " " in s:
            s = _CJK_SPACE_RE.sub("", s)
            if "·" in s:
                s = _DOT_SPACES_RE.sub("·", s)
    if not s or s.lower() in _NULLS:
        return None
    return s


# --- kinds ------------------------------------------------------------------------------

#: Common single-character surnames (Hundred Family Surnames plus the modern top 400,
#: simplified with the usual traditional spellings). A name starting with one of these
#: is very likely a real name; missing a rare one only makes the kind 'unknown'.
_SURNAMES_1: Final = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜"
    "叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫阎段雷侯龙史"
    "陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟"
    "殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游"
    "辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫"
    "费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明"
    "佘池查麻苑迟邝官封谈匡鞠惠荆乐冀郁胥南班储原栗燕楚鄢劳谌奚皮粟冼蔺楼盘满闻位厉伊仝"
    "区郜海阚花权强帅屠豆朴盖练廉禹井祖漆巴丰支卿国狄平计索宣晋相初门云容敬来扈晁芮都普"
    "阙浦戈伏鹿薄邸雍辜羊阿乌母裘亓修邰赫杭况那宿鲜印逯隆茹诸战慕危玉银亢嵇公哈湛宾戎勾"
    "茅利於呼居揭干但尉冶斯元束檀衣信展阴昝智幸奉植衡富尧闭由凤酆鄂晏贝滑钮糜郗郏邴"
    "陳張劉黃趙吳孫馬鄭謝許韓馮鄧蕭葉蘇呂盧鍾譚陸賈韋鄒熊邱顧龔錢嚴溫聶莊魯殷歐蘭"
    "紀單蘇羅楊費閻鄺鄔蔣蔡賴賀龐湯"
)
_SURNAMES_2: Final = frozenset(
    _words(
        "欧阳 司马 上官 诸葛 东方 皇甫 尉迟 公孙 慕容 长孙 宇文 司徒 夏侯 轩辕 令狐 端木 西门"
        " 南宫 独孤 澹台 公冶 宗政 濮阳 太叔 申屠 钟离 闾丘 赫连 拓跋 百里 东郭 呼延 万俟 司空"
        " 第五 梁丘 左丘 鲜于 淳于 单于 乐正 漆雕 壤驷 公良 谷梁 宰父 仲孙 亓官 歐陽 司馬 諸葛"
        " 上官 東方 皇甫 長孫 鍾離 夏侯"
    )
)
#: Honorifics written after a surname when the buyer gave no given name (one or two
#: characters: ``_cjk_kind`` looks at the last two, then the last one).
_TITLES: Final = frozenset(
    _words(
        "先生 女士 小姐 太太 夫人 老师 老師 同学 同學 师傅 師傅 阿姨 叔叔 大哥 大姐 哥 姐"
        " 总 總 经理 經理 老板 老闆 医生 醫生 律师 律師 教授 主任 博士 工 某 某某 姓"
    )
)
#: Words buyers enter instead of a name.
_NICK_WORDS: Final = frozenset(
    _words(
        "宝宝 宝贝 亲 亲爱的 帅哥 美女 老板 收货人 收件人 客户 顾客 买家 本人 自己 家人 老公 老婆"
        " 妈妈 爸爸 小可爱 仙女 哥哥 姐姐 弟弟 妹妹 朋友 主人 前台 保安 门卫 快递 代收"
    )
)
_EN_TITLES: Final = frozenset(
    {"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "madam", "mme", "mlle", "herr", "frau"}
)


def _cjk_kind(s: str) -> NameKind:
    if "·" in s:
        return "full"
    n = len(s)
    for k in (2, 1):  # the longest title that ends the name decides
        if n > k and s[-k:] in _TITLES:
            head = s[:-k]
            if head in _SURNAMES_2 or (len(head) == 1 and head in _SURNAMES_1):
                return "surname_title"
            break
    if s in _NICK_WORDS:
        return "nickname"
    if s[0] in "小老" or (n == 2 and s[0] == "阿"):
        return "nickname"
    if n >= 6:
        return "nickname"
    if 3 <= n <= 5 and s[:2] in _SURNAMES_2:
        return "full"
    if 2 <= n <= 4 and s[0] in _SURNAMES_1:
        return "full"
    return "unknown"


def _latin_kind(s: str) -> NameKind:
    words = s.split(" ")
    if not all(_LATIN_WORD_RE.fullmatch(w) for w in words):
        return "nickname"
    first = words[0].rstrip(".").lower()
    if first in _EN_TITLES:
        if len(words) == 2:
            return "surname_title"
        return "full" if len(words) > 2 else "unknown"
    if len(words) >= 2:
        return "full"
    return "unknown"


def name_kind(name: str) -> NameKind:
    """Guess what sort of name a value is (normalising it first).

    'full': a plausible complete personal name; 'surname_title': surname plus an
    honorific ('王先生', 'Mr. Smith'); 'nickname': a handle, pet name or phrase (digits,
    underscores, symbols, Chinese and Latin mixed, '小王'); 'unknown': too little to tell
    (a single Latin word, one character, a rare surname).
    """
    s = normalize_name(name) if name.__class__ is str else None
    if s is None:
        return "unknown"
    if _CJK_ONLY_RE.fullmatch(s):
        return _cjk_kind(s)
    if _HAS_CJK_RE.search(s):
        return "nickname"  # Chinese mixed with digits, Latin letters or symbols
    return _latin_kind(s)
