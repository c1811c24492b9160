"""Credentials inside image references and URLs, removed from any text: labels, page, JSON, logs.

A registry password reaches the exporter inside strings it shows: `ImageUrl` itself, and every platform
message that quotes the image (`Back-off pulling image "robot:pw@reg/ns/img"`, `Failed to pull image
"...": 401`, `CreateFailedReason`). TI-ONE references are mostly scheme-less, passwords typed by people
hold `/`, `:`, `@` and digits, so `user:123456/abc@registry/...` cannot be told from
`registry:5000/ns/img@...` by the part before the `@`: the rule errs towards removing.

A word of the text (a run of characters a URL's user info cannot hold around it: whitespace, `"`, `<`,
`>`, `\\`, `^`, a backquote, `{`, `|`, `}`) loses everything from its start (or from after its scheme's
`://`) to the last `@` that ends credentials. An `@` ends credentials unless it pins a digest
(`@sha256:<32 or more hex digits>`), and then when either a `:` comes before it (`user:password@`), or the word
has a scheme and no `/` comes before it (`https://token@host`), or no `/` comes before it and a host and a
`/` follow it (`robot@reg.example.com/ns/img`). An address such as `alice@example.com` stays. A password
holding one of the word-ending characters above is not a valid user info and is cut there: the part
after it is still removed, the part before it is not.
"""

from __future__ import annotations

import re
from typing import Final

_WORD_END: Final = r"\s\"<>\\^`{|}"
_WORD_WITH_AT: Final = re.compile(rf"(?<![^{_WORD_END}])[^{_WORD_END}]*@[^{_WORD_END}]*")
"""A whole word holding an `@`: it starts where no word character precedes it (linear: a start is tried
only at a word's beginning)."""
_DIGEST: Final = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[+._-][A-Za-z][A-Za-z0-9]*)*:[0-9A-Fa-f]{32,}")
"""The `algorithm:hex` after an `@` that pins an image by digest."""
_HOST_AND_PATH: Final = re.compile(r"(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]+)?/")
_SCHEME: Final = re.compile(r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]*$")
"""A URL scheme (RFC 3986): a letter first, so `0://` is a user name and the start of a password."""
_OPENERS: Final = "'(["
"""Characters before a user name that belong to the text around it (`'user:pw@host'`, `[user:pw@host]`)."""


_UP_TO_LAST_WORD_END: Final = re.compile(rf"(?s).*[{_WORD_END}]")
FIRST_CUT_MARGIN: Final = 256


def strip_credentials(text: str, limit: int | None = None) -> str:
    """`text` without any `user:password@` (or `token@`) before a host, in any form the module names; only
    its first `limit` characters when a limit is given.

    With a limit, whole words are stripped from the start until the result is long enough, so a message
    of a megabyte costs about `limit` characters of work; the answer is the same as cutting the whole
    stripped text, since each word is stripped on its own.
    """
    if "@" not in text:
        return text if limit is None else text[:limit]
    if limit is None:
        return _WORD_WITH_AT.sub(_strip_word, text)
    size = 2 * limit + FIRST_CUT_MARGIN
    while size < len(text):
        words = _UP_TO_LAST_WORD_END.match(text, 0, size)
        if words is not None:
            stripped = _WORD_WITH_AT.sub(_strip_word, words.group(0))
            if len(stripped) >= limit:
                return stripped[:limit]
        size *= 2
    return _WORD_WITH_AT.sub(_strip_word, text)[:limit]


def _strip_word(match: re.Match[str]) -> str:
    word = match.group(0)
    start = _after_scheme(word)
    colon = word.find(":", start)
    slash = word.find("/", start)
    at = len(word)
    while (at := word.rfind("@", start, at)) >= 0:
        if _DIGEST.match(word, at + 1):
            continue
        colon_before = 0 <= colon < at
        slash_before = 0 <= slash < at
        if colon_before or (not slash_before and (start > 0 or _HOST_AND_PATH.match(word, at + 1))):
            user_end = colon if colon_before else at
            keep = max(word.rfind(opener, start, user_end) for opener in _OPENERS) + 1
            return word[: max(keep, start)] + word[at + 1 :]
    return word


def _after_scheme(word: str) -> int:
    """Where the user info of `word` may begin: after `scheme://` when the word starts with one (after
    text with no `:`, `/` or `@`, such as `url=`), else at 0."""
    index = word.find("://")
    if index < 0 or word.find(":") < index:
        return 0
    before = word[:index]
    scheme = _SCHEME.search(before)
    if scheme is None or "/" in before or "@" in before or word.startswith("/", index + 3):
        return 0  # `0://...` or `user:///pw@host`: a user name and a password that starts with `/`
    return index + 3
