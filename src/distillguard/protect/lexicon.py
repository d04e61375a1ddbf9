"""Meaning-preserving variant groups for the lexical watermark (written for this project).

Each group is a set of interchangeable spellings of one meaning: synonyms ("bought" /
"purchased"), function-word and connective variants ("therefore" / "thus" / "hence"),
contractions ("does not" / "doesn't") and format variants (``2 x 3`` / ``2 * 3``). The
watermark rewrites an occurrence of any *source* variant into the keyed variant; the
detector counts occurrences of *every* variant. A group may restrict its sources where one
spelling is ambiguous (temporal "since" is not causal "because"), and may exclude
contexts where a swap would change meaning or grammar (``needs to`` ≠ ``requires to``).

Validity of the detector never depends on these lists being perfect: under the null (a
text written without our key), the key's choice is independent of the text, so a wrong or
noisy site only costs power, never calibration. Meaning depends on them, and is measured
(bench/bench_provenance.py, docs/provenance.md).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Group:
    gid: str
    variants: tuple[str, ...]
    sources: tuple[str, ...] | None = None  # variants that may be rewritten (None: all)
    after: str = ""  # negative lookahead body: contexts that are not sites
    before: tuple[str, ...] = ()  # fixed-width negative lookbehinds
    prose_only: bool = False  # never inside code-looking text
    symbol: bool = False  # a symbol between digits rather than a word

    @property
    def k(self) -> int:
        return len(self.variants)


_NOT_TO = r"\s+to\b"

GROUPS: tuple[Group, ...] = (
    # connectives
    Group("therefore", ("therefore", "hence")),
    Group("so", ("so", "thus"),
          after=r"\s+(?:much|many|far|that|on|long|as|to|few|little|i|you|do|does|did|is|are|was|were)\b|[,.!?]",
          before=("or ", "not ", "and ", "do ", "if ", "ly ")),
    Group("because", ("because", "since"), sources=("because",), after=r"\s+of\b"),
    Group("additionally", ("additionally", "moreover", "furthermore")),
    Group("for_example", ("for example", "for instance")),
    Group("such_as", ("such as", "like"), sources=("such as",)),
    Group("altogether", ("altogether", "in total"), after=r"\s+(?:of|cost|number|amount)\b"),
    Group("means", ("means", "implies"), before=("by ",)),
    Group("perhaps", ("perhaps", "maybe")),
    Group("finally", ("finally", "lastly")),
    Group("twice", ("twice", "two times")),
    # verbs
    Group("bought", ("bought", "purchased")),
    Group("buys", ("buys", "purchases")),
    Group("buy", ("buy", "purchase"), before=("a ", "the ")),
    Group("gets", ("gets", "receives"), after=r"\s+(?:up|out|off|back|to|in|on|rid|ready|tired|bored)\b"),
    Group("received", ("received", "got"), sources=("received",)),
    Group("needs", ("needs", "requires"), after=_NOT_TO),
    Group("wants", ("wants", "would like"), sources=("wants",), after=r"\s+(?:to|it|them|him|her)\b"),
    Group("calculate", ("calculate", "compute")),
    Group("calculated", ("calculated", "computed")),
    Group("helps", ("helps", "assists"), after=_NOT_TO),
    Group("starts", ("starts", "begins")),
    Group("started", ("started", "began"), after=r"\s+(?:out|with)\b"),
    Group("choose", ("choose", "select")),
    Group("allows", ("allows", "enables")),
    # adjectives / adverbs / nouns
    Group("large", ("large", "big")),
    Group("quickly", ("quickly", "rapidly")),
    Group("often", ("often", "frequently")),
    Group("usually", ("usually", "typically")),
    Group("whole", ("whole", "entire"), before=("a ",), after=r"\s+(?:number|numbers)\b"),
    Group("amount", ("amount", "quantity"), before=("an ",)),
    Group("individual", ("individual", "person"), sources=("individual",), before=("an ",)),
    # contractions (format variants)
    Group("does_not", ("does not", "doesn't")),
    Group("do_not", ("do not", "don't")),
    Group("is_not", ("is not", "isn't")),
    Group("are_not", ("are not", "aren't")),
    Group("cannot", ("cannot", "can't")),
    Group("will_not", ("will not", "won't")),
    Group("let_us", ("let's", "let us")),
    # format: multiplication sign between numbers (never in code)
    Group("times", ("x", "*"), prose_only=True, symbol=True),
)
