"""Numbers and symbols as a narrator says them, so that a TTS engine does not read digits
badly or in the wrong language ("3.5" as "three point five" in a Chinese voice, "2026年" as a
quantity). Subtitles show the text as written, never this spoken form.
"""

from __future__ import annotations

import re

from postprocess.text import LATIN, primary

_DIGITS = "零一二三四五六七八九"
_TENS = ("", "十", "百", "千")
_MYRIADS = ("", "万", "亿", "万亿")
# Counters after which "2" is said 两 (两个, 两岁), and words after which a long number is an
# amount rather than a code read digit by digit (1000000元).
_MEASURES = (
    *("个", "只", "位", "条", "张", "次", "件", "天", "年", "岁", "小时", "分钟", "秒钟", "周"),
    *("种", "本", "辆", "名", "头", "匹", "把", "双", "台", "部", "座", "块", "元", "人", "倍"),
    *("遍", "层", "家", "份", "杯", "碗", "句", "声", "场", "棵", "朵", "颗", "枚", "首", "篇"),
    *("套", "间", "架", "艘", "公里", "米", "斤", "公斤", "千克", "吨"),
)
_AMOUNTS = (
    *("元", "块", "美元", "欧元", "英镑", "人", "个", "名", "次", "件", "米", "公里", "千米"),
    *("吨", "克", "千克", "公斤", "户", "张", "股"),
)
_FULL_WIDTH = str.maketrans("０１２３４５６７８９％", "0123456789%")
_PROTECTED = re.compile(
    # Numbers that belong to a Latin word stay as written, for the engine reading that word:
    # "iPhone 15", "GPT-4", "Wan2.2", "3D", "5G" (language_runs gives them the same run).
    rf"[A-Za-z\u00c0-\u024f]+(?:[ \-]?\d+(?:\.\d+)*[A-Za-z]*)*|\d+[A-Za-z][{LATIN}]*"
)
_NUM = r"\d+(?:\.\d+)?"
_ZH_PASSES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(?<!\d)(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?!\d)"), "date"),
    (
        re.compile(r"(?<![\d.:：])([01]?\d|2[0-4])[:：]([0-5]\d)(?:[:：]([0-5]\d))?(?![\d:：])"),
        "time",
    ),
    (re.compile(r"(?<![\d.])\d+(?:-\d+){2,}(?![\d.])"), "code"),
    (re.compile(r"(?<![\d.])\d+(?:\.\d+){2,}(?![\d.])"), "dotted"),
    (re.compile(r"(?<![\d.])(\d+)[:：](\d+)(?![\d.])"), "ratio"),
    (re.compile(rf"(?<![\d.])({_NUM})(%?)\s*[-~～–—]\s*({_NUM})(%?)(?![\d.])"), "range"),
    (re.compile(r"(?<![\d.])([-−]?)(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(%?)"), "number"),
]


def spoken(text: str, lang: str) -> str:
    """``text`` with numbers and symbols written out as a narrator reads them in ``lang``.

    Chinese: integers in 万/亿 groups ("10010" → 一万零一十), 两 for a leading 2 before 千/万/亿
    and for 2 before a counter (两个, not after 第), decimals "3.14" → 三点一四, "50%" → 百分之五十,
    years "2026年" → 二零二六年, "2026-05-03" → 二零二六年五月三日, codes digit by digit (a leading
    0; 7 or more digits unless they end in 0000 or an amount such as 元 follows; dash-joined
    groups), "-5" → 负五,
    "3-5" → 三到五, "10:30" → 十点三十分, "3:2" → 三比二. Numbers attached to a Latin word stay
    as written ("iPhone 15", "3D"). English: "50%" → "50 percent", "&" → "and"; the engine reads
    numbers and years. Other languages come back unchanged.
    """
    code = primary(lang)
    if code == "en":
        text = re.sub(r"(\d)\s*[%％]", r"\1 percent", text)
        return re.sub(r"\s*&\s*", " and ", text).strip()
    if code != "zh":
        return text
    text = text.translate(_FULL_WIDTH)
    out, start = [], 0
    for match in _PROTECTED.finditer(text):
        out += [_spoken_zh(text[start : match.start()]), match[0]]
        start = match.end()
    out.append(_spoken_zh(text[start:]))
    return "".join(out)


def _spoken_zh(text: str) -> str:
    for pattern, kind in _ZH_PASSES:
        text = pattern.sub(lambda m, kind=kind: _READERS[kind](m), text)
    return text


def integer_zh(n: int) -> str:
    """A non-negative integer below 10^16 in Chinese: 10 → 十, 1001 → 一千零一, 2000 → 两千."""
    if n < 0 or n >= 10**16:
        raise ValueError(f"{n} is out of range for a Chinese reading (0 to 10^16 - 1)")
    if n == 0:
        return "零"
    groups = []
    while n:
        n, group = divmod(n, 10_000)
        groups.append(group)
    out, gap = "", False
    for power in range(len(groups) - 1, -1, -1):
        group = groups[power]
        if group == 0:
            gap = bool(out)
            continue
        if out and (gap or group < 1000):
            out += "零"
        out += _group_zh(group) + _MYRIADS[power]
        gap = False
    if out.startswith("一十"):  # 十五, 十万: the leading 一 is not said
        out = out[1:]
    if out.startswith("二") and out[1:2] in ("千", "万", "亿"):
        out = "两" + out[1:]
    return out


def _group_zh(n: int) -> str:
    out, gap = "", False
    for power in (3, 2, 1, 0):
        digit = n // 10**power % 10
        if digit == 0:
            gap = bool(out)
            continue
        out += ("零" if gap else "") + _DIGITS[digit] + _TENS[power]
        gap = False
    return out


def digits_zh(digits: str) -> str:
    """Digit by digit: "2026" → 二零二六."""
    return "".join(_DIGITS[int(d)] for d in digits if d.isdigit())


def _number_zh(number: str, before: str = "", after: str = "") -> str:
    """One unsigned number ("1,000", "3.14", "13812345678"), read by what surrounds it."""
    whole, _, fraction = number.partition(".")
    grouped = "," in whole
    whole = whole.replace(",", "")
    if not grouped and not fraction:
        if len(whole) == 4 and after.startswith("年"):
            return digits_zh(whole)
        if (len(whole) > 1 and whole[0] == "0") or len(whole) > 16:
            return digits_zh(whole)
        # Codes (phone numbers, ids) are long and rarely round; amounts are round or counted.
        if len(whole) >= 7 and not whole.endswith("0000") and not after.startswith(_AMOUNTS):
            return digits_zh(whole)
        if whole == "2" and after.startswith(_MEASURES) and not before.endswith("第"):
            return "两"
    if len(whole) > 16:
        return digits_zh(whole) + ("点" + digits_zh(fraction) if fraction else "")
    return integer_zh(int(whole)) + ("点" + digits_zh(fraction) if fraction else "")


def _read_date(m: re.Match[str]) -> str:
    year, month, day = m[1], int(m[2]), int(m[3])
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return m[0]  # not a date: the later passes read it as numbers
    return f"{digits_zh(year)}年{integer_zh(month)}月{integer_zh(day)}日"


def _read_time(m: re.Match[str]) -> str:
    hour = "两" if int(m[1]) == 2 else integer_zh(int(m[1]))
    out = f"{hour}点"
    minutes, seconds = int(m[2]), int(m[3]) if m[3] else 0
    if minutes or seconds:
        out += ("零" if minutes < 10 else "") + integer_zh(minutes) + "分"
    if seconds:
        out += ("零" if seconds < 10 else "") + integer_zh(seconds) + "秒"
    return out


def _read_range(m: re.Match[str]) -> str:
    before, after = m.string[: m.start()], m.string[m.end() :]
    percent = bool(m[4])  # "3-5%": both ends are percentages
    low = _number_zh(m[1], before, "年" if after.startswith("年") and len(m[1]) == 4 else "")
    high = _number_zh(m[3], "", after)
    if percent:
        low, high = "百分之" + low, "百分之" + high
    return f"{low}到{high}"


def _read_number(m: re.Match[str]) -> str:
    before, after = m.string[: m.start()], m.string[m.end() :]
    sign = m[1] and not re.search(r"[0-9A-Za-z]$", before)
    words = _number_zh(m[2] + (m[3] or ""), before, after)
    if m[4]:
        words = "百分之" + words
    return ("负" if sign else m[1]) + words


_READERS = {
    "date": _read_date,
    "time": _read_time,
    "code": lambda m: " ".join(digits_zh(group) for group in m[0].split("-")),
    "dotted": lambda m: "点".join(_number_zh(part) for part in m[0].split(".")),
    "ratio": lambda m: f"{_number_zh(m[1])}比{_number_zh(m[2])}",
    "range": _read_range,
    "number": _read_number,
}


__all__ = ["digits_zh", "integer_zh", "spoken"]
