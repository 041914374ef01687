"""The subset of regex syntax that Java (Spark's ``rlike``) and Python's ``re`` (ASCII flag) read alike.

:func:`java_equivalent` accepts a pattern only when every construct in it has the same meaning
in both engines, so ``re.search(pattern, value, re.ASCII)`` answers exactly what Java's
``Pattern.compile(pattern).matcher(value).find()`` answers:

* literals: ASCII letters, digits and punctuation that is no metacharacter, and printable
  non-ASCII characters; escaped ASCII punctuation (``\\.``, ``\\-``, ``\\\\``);
* ``\\d \\D \\w \\W \\s \\S`` (ASCII classes in both: Java without ``UNICODE_CHARACTER_CLASS``,
  Python with ``re.ASCII``) and ``\\t \\n \\r \\f``;
* character classes ``[...]`` / ``[^...]`` of those literals, escapes and ``a-z`` ranges (no nested
  classes, no ``&&`` intersections, no POSIX or ``\\p{...}`` classes);
* ``.``, ``^``, ``$``, groups ``(...)`` and ``(?:...)``, ``|``, and the quantifiers ``* + ?
  {n} {n,} {n,m}``, greedy or lazy (``?``), never possessive.

No backreferences, lookarounds, inline flags, ``\\b``, ``\\A``/``\\Z``, ``\\v`` (a class in Java), octal
or unicode escapes. Without backreferences or lookarounds whether a match exists does not depend
on the engine's search order, so only the syntax's meaning matters. One difference remains and
is reported, not hidden: Java's ``.`` and ``$`` also treat ``\\r``, ``\\u0085``, ``\\u2028`` and
``\\u2029`` as line terminators (Python only ``\\n``); :attr:`RegexPlan.line_sensitive` tells the
caller to check its values for :data:`LINE_TERMINATORS`.
"""

from __future__ import annotations

import string
import unicodedata
from dataclasses import dataclass

#: Characters Java treats as line terminators (for ``.`` and ``$``) and Python's ``re`` does not.
LINE_TERMINATORS = ("\r", "\u0085", "\u2028", "\u2029")

_META = set("\\^$.|?*+()[]{}")
_CLASS_ESCAPES = set("dDwWsS")
_CONTROL_ESCAPES = set("tnrf")
_PUNCT = set(string.punctuation)
# Inside a class: no nesting/intersection ([ & ]), and nothing Python warns about as a future set
# operation (-- && ~~ ||); '-' only as a range operator or at the class's ends.
_CLASS_FORBIDDEN = set("[]&~|\\-^")
_MAX_REPEAT = 1000


@dataclass(frozen=True)
class RegexPlan:
    """A pattern :func:`java_equivalent` accepted."""

    pattern: str
    #: The pattern uses ``.`` or ``$``: values with a :data:`LINE_TERMINATORS` character differ.
    line_sensitive: bool


def _literal(ch: str) -> bool:
    if ch in _META:
        return False
    if ch.isascii():
        return ch.isprintable()
    cat = unicodedata.category(ch)
    return not cat.startswith(("C", "Z")) and ch not in LINE_TERMINATORS


class _Parser:
    def __init__(self, pattern: str) -> None:
        self.p = pattern
        self.i = 0
        self.line_sensitive = False

    def peek(self) -> str | None:
        return self.p[self.i] if self.i < len(self.p) else None

    def escape(self) -> bool:
        """``\\x`` at ``i``; True when accepted (``i`` moves past it)."""
        if self.i + 1 >= len(self.p):
            return False
        ch = self.p[self.i + 1]
        if ch in _CLASS_ESCAPES or ch in _CONTROL_ESCAPES or (ch in _PUNCT and ch.isascii()):
            self.i += 2
            return True
        return False

    def klass(self) -> bool:
        self.i += 1  # '['
        if self.peek() == "^":
            self.i += 1
        items = 0
        while True:
            ch = self.peek()
            if ch is None:
                return False
            if ch == "]":
                if items == 0:
                    return False
                self.i += 1
                return True
            if ch == "\\":
                if not self.escape():
                    return False
                items += 1
                continue
            if ch == "-":
                # a literal '-' only first or last ("[-a]", "[a-]")
                if items == 0 or self.p[self.i + 1: self.i + 2] == "]":
                    if self.p[self.i + 1: self.i + 2] == "-":
                        return False
                    self.i += 1
                    items += 1
                    continue
                return False
            if ch in _CLASS_FORBIDDEN or not (_literal(ch) or ch in ".$*+?(){}"):
                return False
            # a range "a-z" between two plain characters
            if self.p[self.i + 1: self.i + 2] == "-" and self.p[self.i + 2: self.i + 3] not in ("", "]"):
                hi = self.p[self.i + 2]
                if hi in _CLASS_FORBIDDEN or not (_literal(hi) or hi in ".$*+?(){}") or hi < ch:
                    return False
                self.i += 3
            else:
                self.i += 1
            items += 1

    def quantifier(self) -> bool | None:
        """A quantifier at ``i``: True accepted, False malformed, None there is none."""
        ch = self.peek()
        if ch in ("*", "+", "?"):
            self.i += 1
        elif ch == "{":
            end = self.p.find("}", self.i)
            if end < 0:
                return False
            body = self.p[self.i + 1: end]
            lo, comma, hi = body.partition(",")
            if not lo.isdigit() or not lo.isascii() or (hi and (not hi.isdigit() or not hi.isascii())):
                return False
            if int(lo) > _MAX_REPEAT or (hi and (int(hi) > _MAX_REPEAT or int(hi) < int(lo))):
                return False
            del comma
            self.i = end + 1
        else:
            return None
        if self.peek() == "?":  # lazy
            self.i += 1
        return self.peek() not in ("*", "+", "?", "{")  # possessive or a second quantifier: not shared

    def sequence(self, depth: int) -> bool:
        """Alternatives up to the closing ')' (depth > 0) or the end; ``i`` stops at ')' or the end."""
        while True:
            ch = self.peek()
            if ch is None or ch == ")":
                return depth > 0 if ch == ")" else depth == 0
            if ch == "|":
                self.i += 1
                continue
            if ch in "^$":
                self.line_sensitive |= ch == "$"
                self.i += 1
                if self.peek() in ("*", "+", "?", "{"):
                    return False
                continue
            if ch == "(":
                self.i += 1
                if self.peek() == "?":
                    if self.p[self.i: self.i + 2] != "?:":
                        return False
                    self.i += 2
                if not self.sequence(depth + 1) or self.peek() != ")":
                    return False
                self.i += 1
            elif ch == "[":
                if not self.klass():
                    return False
            elif ch == "\\":
                if not self.escape():
                    return False
            elif ch == ".":
                self.line_sensitive = True
                self.i += 1
            elif _literal(ch):
                self.i += 1
            else:
                return False
            if self.quantifier() is False:
                return False


def java_equivalent(pattern: str) -> RegexPlan | None:
    """A plan when ``pattern`` means the same to Java and to Python's ``re`` (ASCII); None otherwise."""
    parser = _Parser(pattern)
    try:
        ok = parser.sequence(0) and parser.i == len(pattern)
    except (IndexError, ValueError):
        return None
    return RegexPlan(pattern, parser.line_sensitive) if ok else None
