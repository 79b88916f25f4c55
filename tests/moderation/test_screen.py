"""Prompt screening: evasions seen through, benign near-misses pass, spans in the original."""

from __future__ import annotations

import pickle

import pytest

from moderation import ListError, Screener, Term
from moderation.lists import default_allowlist, default_blacklist
from moderation.normalise import fold, skeletonise
from moderation.screening import inflections


@pytest.fixture(scope="module")
def screener() -> Screener:
    """The shipped lists plus operator terms the shipped lists leave out on purpose."""
    return Screener.build([Term("kill", "violence"), Term("ass", "sexual")])


def found(screener: Screener, text: str) -> list[tuple[str, str]]:
    """(term, original substring) per match, after checking the span really is that substring."""
    result = screener.screen(text)
    for m in result.matches:
        assert text[m.start : m.end] == m.matched
    return [(m.term, m.matched) for m in result.matches]


@pytest.mark.parametrize(
    ("text", "matched"),
    [
        ("RAPE", "RAPE"),  # case
        ("ｒａｐｅ in fullwidth", "ｒａｐｅ"),  # width
        ("𝐫𝐚𝐩𝐞", "𝐫𝐚𝐩𝐞"),  # mathematical bold
        ("𝓻𝓪𝓹𝓮!", "𝓻𝓪𝓹𝓮"),  # mathematical script
        ("ʀᴀᴘᴇ", "ʀᴀᴘᴇ"),  # small capitals
        ("🅡🅐🅟🅔", "🅡🅐🅟🅔"),  # negative circled letters
        ("the r\u200ba\u200cp\u2060e scene", "r\u200ba\u200cp\u2060e"),  # zero-width
        ("\u202er\u00adape", "r\u00adape"),  # bidi control, soft hyphen
        ("r\ufe0fa\U000e0041pe", "r\ufe0fa\U000e0041pe"),  # variation selector, tag character
        ("r̷a̷p̷e̷ here", "r̷a̷p̷e̷"),  # combining overlays, kept whole at the end
        ("rapé", "rapé"),  # accents
        ("r.a.p.e", "r.a.p.e"),
        ("r a p e", "r a p e"),
        ("r-a-p-e", "r-a-p-e"),
        ("r😀a😀p😀e", "r😀a😀p😀e"),
        ("ra.pe", "ra.pe"),
        ("rаpe", "rаpe"),  # Cyrillic а
        ("RΑΡΕ", "RΑΡΕ"),  # Greek capitals alpha, rho, epsilon
        ("rap\u0435", "rap\u0435"),  # Cyrillic е
        ("我要rape", "rape"),  # script change is a word boundary
        ("rape的场景", "rape"),
    ],
)
def test_latin_evasions_are_seen_through(screener, text, matched):
    assert found(screener, text) == [("rape", matched)]


@pytest.mark.parametrize(
    ("text", "matched"),
    [
        ("画面中出现屠杀", "屠杀"),
        ("屠.杀", "屠.杀"),
        ("屠 杀", "屠 杀"),
        ("屠😀杀", "屠😀杀"),
        ("屠\u200b杀", "屠\u200b杀"),
        ("屠，杀", "屠，杀"),  # full-width punctuation
        ("屠殺", "屠殺"),  # traditional text, simplified term
        ("一场屠\u200d殺！", "屠\u200d殺"),
    ],
)
def test_chinese_evasions_are_seen_through(screener, text, matched):
    assert found(screener, text) == [("屠杀", matched)]


@pytest.mark.parametrize(
    "text",
    [
        "a bowl of grape jelly",
        "the therapist smiles",
        "drapes and scrapes",
        "skill and patience",
        "the Sussex coast and Essex",
        "heroines of the old war",
        "a classic glass of water",
        "rapeseed fields in spring",
        "Al Gore gives a speech",
        "the leaves go red in autumn",  # "gored" across two words
        "a rap e-mail",  # "rape" across two words
        "Vlad the Impaler's castle",
        "一杯血腥玛丽",
        "一杯血腥瑪麗",
        "真是个大麻烦",
        "杀人鲸跃出海面",
        "男女同学之间的异性交往",
        "nude lipstick and a bowl of grapes",
        "a murder of crows at dusk",
    ],
)
def test_benign_near_misses_pass(screener, text):
    assert found(screener, text) == []


def test_inflections_match_and_span_the_inflected_word(screener):
    assert found(screener, "she was raped") == [("rape", "raped")]
    assert found(screener, "raping") == [("rape", "raping")]
    assert found(screener, "two rapists") == [("rapist", "rapists")]
    assert found(screener, "stabbed twice, stabbing again") == [
        ("stab", "stabbed"),
        ("stab", "stabbing"),
    ]
    assert found(screener, "killed and killing, kills") == [
        ("kill", "killed"),
        ("kill", "killing"),
        ("kill", "kills"),
    ]
    assert found(screener, "self harming") == [("self-harm", "self harming")]


def test_inflections_follow_english_spelling():
    assert {"rapes", "raped", "raping"} <= inflections("rape")
    assert {"stabs", "stabbed", "stabbing"} <= inflections("stab")
    assert {"pussies"} <= inflections("pussy") and "pussys" not in inflections("pussy")
    assert {"dying", "dies", "died"} <= inflections("die")
    assert {"sexes", "sexed", "sexing"} <= inflections("sex")
    assert "heroines" not in inflections("heroin")


def test_whitespace_inside_a_term_only_between_single_letters_or_where_the_term_has_it(screener):
    assert found(screener, "ra pe") == []  # two words "ra" and "pe", as far as we can tell
    assert found(screener, "blow job") == [("blow job", "blow job")]
    assert found(screener, "BlowJob") == [("blow job", "BlowJob")]
    assert found(screener, "b l o w j o b") == [("blow job", "b l o w j o b")]
    assert found(screener, "self harm") == [("self-harm", "self harm")]


def test_inserting_separators_cannot_dodge_but_longer_words_do_not_match(screener):
    assert found(screener, "k.i.l.l the lights") == [("kill", "k.i.l.l")]
    assert found(screener, "a skillful skiller") == []
    assert found(screener, "kill-ed") == [("kill", "kill-ed")]  # one match, the longer form
    assert found(screener, "a killing spree") == [("killing spree", "killing spree")]


def test_one_report_per_category_and_start_others_all_count():
    screener = Screener.build(["屠杀", "屠殺", Term("屠杀", "hate")], defaults=False)
    result = screener.screen("屠杀")
    assert [(m.term, m.category) for m in result.matches] == [
        ("屠杀", "custom"),
        ("屠杀", "hate"),
    ]


def test_allowlist_exempts_only_where_the_phrase_is(screener):
    assert found(screener, "血腥玛丽和屠杀") == [("屠杀", "屠杀")]
    result = screener.screen("血腥玛丽和血腥场面")
    assert [(m.term, m.start, m.end) for m in result.matches] == [("血腥", 5, 7)]
    assert found(screener, "一杯bloody mary, then gore") == [("gore", "gore")]


def test_operator_allowlist_unblocks_a_default_term():
    screener = Screener.build(allowlists=["nude", "屠殺"])
    assert screener.screen("nude, nudes, 屠杀").allowed
    assert not screener.screen("porn").allowed


def test_traditional_and_simplified_are_one_term():
    screener = Screener.build(["殘殺", "杀戮游戏"], defaults=False)
    assert found(screener, "残杀") == [("殘殺", "残杀")]
    assert found(screener, "殺戮遊戲") == [("杀戮游戏", "殺戮遊戲")]


def test_look_alike_letters_in_the_list_match_plain_text():
    screener = Screener.build(["ΒΟΜΒ"], defaults=False)  # written in Greek capitals
    assert found(screener, "bomb") == [("ΒΟΜΒ", "bomb")]


def test_mixed_script_terms_check_only_their_latin_ends():
    screener = Screener.build(["AV女优"], defaults=False)
    assert found(screener, "看av女優") == [("AV女优", "av女優")]
    assert found(screener, "java女优") == []  # "av" inside "java" is no word start


def test_spans_index_the_original_text_through_every_fold():
    screener = Screener.build(["rape", "屠杀"], defaults=False)
    text = "前文ＲＡ\u200b𝐩é，中间 屠😀殺 后 r a p e"
    result = screener.screen(text)
    assert [(m.term, text[m.start : m.end]) for m in result.matches] == [
        ("rape", "ＲＡ\u200b𝐩é"),
        ("屠杀", "屠😀殺"),
        ("rape", "r a p e"),
    ]
    assert [m.matched for m in result.matches] == ["ＲＡ\u200b𝐩é", "屠😀殺", "r a p e"]


def test_overlapping_terms_are_all_reported_in_order(screener):
    result = screener.screen("血腥屠杀")
    assert [(m.term, m.category, m.start, m.end) for m in result.matches] == [
        ("血腥", "violence", 0, 2),
        ("屠杀", "violence", 2, 4),
    ]


def test_result_shape_and_sources(screener):
    result = screener.screen("gore and 自杀")
    assert result.to_dict() == {
        "text": "gore and 自杀",
        "allowed": False,
        "matches": [
            {"term": "gore", "category": "violence", "start": 0, "end": 4},
            {"term": "自杀", "category": "self_harm", "start": 9, "end": 11},
        ],
    }
    assert result.categories == ["violence", "self_harm"]
    assert result.matches[1].source.startswith("moderation/data/blacklist-self_harm.txt:")
    assert screener.screen("a quiet lake").to_dict() == {
        "text": "a quiet lake",
        "allowed": True,
        "matches": [],
    }


def test_operator_terms_with_and_without_defaults(tmp_path):
    ops = tmp_path / "ops-blacklist.txt"
    ops.write_text("zorblax\n禁词\tillegal\n", encoding="utf-8")
    allow = tmp_path / "allow.txt"
    allow.write_text("zorblax island\n", encoding="utf-8")
    alone = Screener.from_files([ops], [allow], defaults=False)
    both = Screener.from_files([str(ops)], [allow])
    assert alone.screen("gore").allowed and not both.screen("gore").allowed
    for screener in (alone, both):
        zorblax = screener.screen("the zorblax attacks").matches
        assert [(m.term, m.category, m.source) for m in zorblax] == [
            ("zorblax", "custom", f"{ops}:1")
        ]
        assert screener.screen("zorblax island at dawn").allowed
        assert [m.category for m in screener.screen("禁詞").matches] == ["illegal"]
    assert alone.blacklisted == 2
    assert both.blacklisted == 2 + len({t.text for t in default_blacklist()})


def test_terms_given_in_code_are_checked():
    with pytest.raises(ListError, match=r"<code>: unknown category 'gory' for 'x1'"):
        Screener.build([Term("x1", "gory")])
    with pytest.raises(ListError, match=r"<blacklist term>: term '!!' has no letters"):
        Screener.build(["!!"])
    with pytest.raises(TypeError, match="must be a Term, a term"):
        Screener.build([42])
    assert Screener.build([Term("zorblax", "Self-Harm")]).screen("zorblax").categories == [
        "self_harm"
    ]


def test_empty_text_and_empty_screener():
    assert Screener.build(defaults=False).screen("屠杀 rape").allowed
    assert Screener.build().screen("").allowed


def test_screener_survives_pickling(screener):
    copy = pickle.loads(pickle.dumps(screener))
    for text in ("r.a.p.e", "血腥玛丽和屠杀", "grape", "kills"):
        assert copy.screen(text) == screener.screen(text)


@pytest.mark.parametrize(
    "text",
    [
        "ＲＡ\u200b𝐩é，中间 屠😀殺",
        "ß㍿½ ﬁ",
        "r̷a̷p̷e̷\u3164x",
        "한국어 테스트 İstanbul",
        "\x00a\x7fb\tc",
    ],
)
def test_fast_fold_agrees_with_the_exact_skeleton(text):
    skeleton = skeletonise(text)
    assert fold(text) == skeleton.text
    assert len(skeleton.source) == len(skeleton.text) == len(skeleton.flags) - 1


def test_shipped_lists_cover_every_category_and_never_unblock_a_term():
    categories = {t.category for t in default_blacklist()}
    assert categories == {"violence", "sexual", "self_harm", "hate", "illegal"}
    blocked = {fold(t.text) for t in default_blacklist()}
    assert len(blocked) == len(default_blacklist())  # no term listed twice in another spelling
    assert not blocked & {fold(t.text) for t in default_allowlist()}
    # Every shipped allowlist phrase exempts something the shipped lists (or obvious operator
    # additions) would otherwise block, except those marked as waiting for such additions.
    bare = Screener.build(list(default_blacklist()), defaults=False)
    idle = {t.text for t in default_allowlist() if bare.screen(t.text).allowed}
    assert idle == {"bloody mary", "killer whale", "shooting star", "drug store"}


def test_a_screener_is_made_from_a_finished_automaton():
    import ahocorasick

    with pytest.raises(ValueError, match=r"Screener\.build"):
        Screener(ahocorasick.Automaton())
