"""Mixed-script labels: the homograph check of UTS #39 ("Highly Restrictive", section 5.2).

``\u0430pple.com`` with a Cyrillic ``\u0430`` is a valid IDN that looks like ``apple.com``. UTS #39
defines which mixtures of scripts an identifier may contain: one script (plus Common and
Inherited characters such as digits, the hyphen and combining marks), or Latin with the
scripts written together in Japanese, Chinese or Korean. Characters are judged by their
Script_Extensions (a Japanese prolonged sound mark belongs to both kana scripts), and only
the Recommended scripts of UAX #31 (table 4) are allowed at all: the excluded and limited-use
ones (Cherokee, for instance) hold look-alikes of Latin letters that no hosted domain needs.

The Unicode data comes from the ``regex`` module, which follows each Unicode release.
"""

from __future__ import annotations

import functools
from typing import Literal

import regex

# UAX #31, table 4 (Recommended scripts), by their Unicode long names.
RECOMMENDED_SCRIPTS = (
    "Arabic",
    "Armenian",
    "Bengali",
    "Bopomofo",
    "Cyrillic",
    "Devanagari",
    "Ethiopic",
    "Georgian",
    "Greek",
    "Gujarati",
    "Gurmukhi",
    "Han",
    "Hangul",
    "Hebrew",
    "Hiragana",
    "Kannada",
    "Katakana",
    "Khmer",
    "Lao",
    "Latin",
    "Malayalam",
    "Myanmar",
    "Oriya",
    "Sinhala",
    "Tamil",
    "Telugu",
    "Thaana",
    "Thai",
    "Tibetan",
)
# UTS #39 section 5.2: the multi-script sets a Highly Restrictive identifier may use.
_ALLOWED_MIXTURES = (
    frozenset({"Latin", "Han", "Hiragana", "Katakana"}),  # Japanese
    frozenset({"Latin", "Han", "Bopomofo"}),  # Chinese
    frozenset({"Latin", "Han", "Hangul"}),  # Korean
)
_ALLOWED = tuple(frozenset({s}) for s in RECOMMENDED_SCRIPTS) + _ALLOWED_MIXTURES
_IN_SCRIPT = {name: regex.compile(rf"\p{{scx={name}}}") for name in RECOMMENDED_SCRIPTS}
_NEUTRAL = regex.compile(r"[\p{scx=Common}\p{scx=Inherited}]")

Problem = Literal["mixed", "excluded"]


@functools.lru_cache(maxsize=8192)
def _scripts_of(char: str) -> frozenset[str] | None:
    """The Recommended scripts the character is used with; None for Common/Inherited."""
    if _NEUTRAL.match(char):
        return None
    return frozenset(name for name, pattern in _IN_SCRIPT.items() if pattern.match(char))


def label_problem(label: str) -> Problem | None:
    """What is wrong with the scripts of one U-label, or None when they pass."""
    if label.isascii():
        return None  # letters, digits and the hyphen: Latin and Common only
    scripts = [s for s in map(_scripts_of, label) if s is not None]
    if any(not s for s in scripts):
        return "excluded"
    if any(all(s & allowed for s in scripts) for allowed in _ALLOWED):
        return None
    return "mixed"
