"""Chinese word segmentation: where the words of a text begin and end.

Chinese is written without spaces, so "does this term occur here as a word?" (a lexicon keyword, a
screened term) needs a segmenter: 天蝎 occurs in 天蝎座 as characters, not as a word. This wraps
jieba's dictionary segmenter without its HMM, so that only dictionary words are ever joined and a
result can be explained by the dictionary alone. Around it:

* Extra words (a lexicon's keywords) go into a private copy of jieba's dictionary, one per set of
  words: one caller's words never change another caller's segmentation, and a text segments the
  same way with the same words in any process, whatever else that process has segmented.
* Traditional characters are segmented as their simplified forms (jieba's dictionary is
  simplified: 森林公園 would otherwise split after 森林), one character at a time so that spans
  still index the original text.
* jieba's dictionary is read once per process, on first use (about a second), from the file jieba
  ships, not from the cache jieba keeps in the temp directory: a file any other process or user
  may have written is no input to segmentation. jieba's own logger is turned down to warnings: it
  writes progress messages to stderr at DEBUG.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

_SEGMENTERS = 8  # distinct word sets kept per process: each holds a ~15 MiB dictionary copy
_CACHED = 8192  # texts and runs kept per segmenter: the shots of an item repeat its prompt

_lock = threading.Lock()
_dictionary: tuple[dict[str, int], int] | None = None
_segmenters: OrderedDict[frozenset[tuple[str, int]], Segmenter] = OrderedDict()


def _jieba() -> tuple[Any, dict[str, int], int]:
    """jieba and its dictionary (word and every word prefix → frequency, and the total)."""
    global _dictionary
    import jieba

    with _lock:
        if _dictionary is None:
            logging.getLogger("jieba").setLevel(logging.WARNING)
            tokenizer = jieba.Tokenizer()
            _dictionary = tokenizer.gen_pfdict(tokenizer.get_dict_file())
        return jieba, *_dictionary


@lru_cache(maxsize=1)
def _t2s():  # -> opencc.OpenCC; opencc ships no type information
    import opencc

    return opencc.OpenCC("t2s")


class _Simplified(dict):
    """Code point → its simplified character, looked up on first sight. A conversion that is not
    one character (none known in t2s) keeps the original, so that offsets never move."""

    def __missing__(self, code: int) -> str:
        char = chr(code)
        folded = _t2s().convert(char) if code >= 0x2E80 else char
        value = folded if len(folded) == 1 else char
        self[code] = value
        return value


_SIMPLIFIED = _Simplified()


def simplified(text: str) -> str:
    """``text`` with traditional characters made simplified, of the same length."""
    return text.translate(_SIMPLIFIED)


class Segmenter:
    """jieba's dictionary plus ``words``; build with ``segmenter``, which shares instances."""

    def __init__(self, words: Mapping[str, int]) -> None:
        jieba, freq, total = _jieba()
        self._blocks = jieba.re_han_default
        tokenizer = jieba.Tokenizer()
        tokenizer.FREQ, tokenizer.total = (dict(freq) if words else freq), total
        tokenizer.initialized = True  # never read the dictionary or the temp-dir cache again
        # Shorter words first: a compound's suggested frequency then accounts for its parts.
        for word in sorted(words, key=lambda w: (len(w), w)):
            key = simplified(word.strip())
            if key:
                suggested = tokenizer.suggest_freq(key)
                tokenizer.add_word(key, max(suggested, words[word], tokenizer.FREQ.get(key) or 0))
        self._cut = lru_cache(maxsize=_CACHED)(
            lambda run: tuple(len(word) for word in tokenizer.cut(run, HMM=False))
        )
        self._boundaries = lru_cache(maxsize=_CACHED)(
            lambda text: frozenset([len(text), *(start for start, _ in self.spans(text))])
        )

    def spans(self, text: str) -> list[tuple[int, int]]:
        """(start, end) of every word of ``text``, in order and covering it; outside runs of
        Chinese, Latin letters and digits (punctuation, spaces, emoji) each character is one."""
        found: list[tuple[int, int]] = []
        pos = 0
        for run in self._blocks.finditer(simplified(text)):
            found += ((i, i + 1) for i in range(pos, run.start()))
            pos = run.start()
            for length in self._cut(run.group()):
                found.append((pos, pos + length))
                pos += length
        found += ((i, i + 1) for i in range(pos, len(text)))
        return found

    def boundaries(self, text: str) -> frozenset[int]:
        """Offsets where a word starts or ends, ``0`` and ``len(text)`` included."""
        return self._boundaries(text)


def segmenter(words: Mapping[str, int] | Iterable[str] = ()) -> Segmenter:
    """The segmenter for jieba's dictionary plus ``words``, shared per process: building one copies
    the dictionary.

    ``words`` maps each word to the least frequency it gets, a count in jieba's dictionary (about
    60 million in all: 森林 and 太阳 have about 5,000, 天蝎 3); a plain list, or 0, takes jieba's
    suggestion, just enough to keep the word whole where it stands alone. A word never gets less
    than that suggestion, nor less than the dictionary already gives it.
    """
    if not isinstance(words, Mapping):
        words = dict.fromkeys(words, 0)
    key = frozenset(words.items())
    with _lock:
        if key in _segmenters:
            _segmenters.move_to_end(key)
            return _segmenters[key]
    built = Segmenter(words)  # outside the lock: the first build also loads the dictionary
    with _lock:
        built = _segmenters.setdefault(key, built)
        _segmenters.move_to_end(key)
        while len(_segmenters) > _SEGMENTERS:
            _segmenters.popitem(last=False)
    return built


def spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every word of ``text`` by jieba's dictionary alone."""
    return segmenter().spans(text)
