"""Cheap per-prompt text features shared by the batch scan and the real-time service.

Every feature here is a pure function of one request's text (or user-agent). They exist
because distillation traffic has to *ask* for what a student model needs:

* ``mask``          — strip the slots (numbers, quoted strings, emails, urls, name-ish
                      capitalised runs) so prompts generated from one template collapse
                      to the same text (input to template clustering / MinHash).
* ``elicitation``   — how hard a prompt (or its system prompt) demands a full reasoning
                      trace or a forced ``<think>``/``Final answer:`` format: traces are
                      what a reasoning student is trained on.
* ``task_family``   — a coarse task label; a dataset generator sweeps many families
                      evenly, a person or product stays in a few.
* ``is_followup``   — does the message refer back to an earlier turn? Real conversations
                      do; harvesting scripts send one-shot prompts.
* ``client_kind``   — browser, official SDK, raw HTTP library, or unknown.

The patterns are plain RE2-compatible regular expressions (no look-arounds, no
back-references, ASCII ``[0-9]``), kept as module constants so the batch engine can run
the *same* rules vectorised inside DuckDB (``regexp_matches``) and get the same answers
as this Python code. Only the first ``HEAD_CHARS`` characters of a prompt are classified:
the instruction is nearly always at the start, and it bounds the cost of long prompts.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import re2


def _search_rx(pattern: str) -> Any:
    """A classification pattern compiled with RE2, the engine DuckDB's ``regexp_matches`` runs in
    the scan: the same semantics live and in batch (Python's ``re`` reads ``\\b`` and ``\\s`` by
    Unicode rules, RE2 by ASCII ones), and linear-time matching of these wide alternations
    (about 9× faster than ``re`` on real prompts; this is the guard's hot path)."""
    return re2.compile(pattern)


HEAD_CHARS = 600
"""Characters of a prompt that ``task_family``/``elicitation``/``is_followup`` look at."""

# --------------------------------------------------------------------------- masking
MASK_RULES: tuple[tuple[str, str], ...] = (
    (r"(?:https?://|www\.)[^\s<>\"')\]]+", "<url>"),
    (r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+", "<email>"),
    (r"\"[^\"\n]{1,200}\"|“[^”\n]{1,200}”|«[^»\n]{1,200}»|「[^」\n]{1,200}」|`[^`\n]{1,200}`", "<str>"),
    (r"\b[A-Z][a-z]+(?:[ ][A-Z][a-z]+)+\b", "<name>"),
    (r"\bNAME_[0-9]+\b", "<name>"),
    (r"[-+]?[0-9]+(?:[.,:/][0-9]+)*", "<num>"),
    (r"\s+", " "),
)
"""(pattern, placeholder) pairs applied in order by :func:`mask` (RE2-compatible)."""


@lru_cache(maxsize=1)
def _mask_res() -> tuple[tuple[re.Pattern[str], str], ...]:
    return tuple((re.compile(p), r) for p, r in MASK_RULES)


def mask(prompt: str | None, *, lower: bool = True) -> str:
    """Replace the variable slots of a prompt with placeholders.

    ``"What is 17 * 23? Ask John Smith at js@x.org"`` →
    ``"what is <num> * <num>? ask <name> at <email>"``. Two prompts filled in from one
    template (different numbers, names, quoted inputs) then compare equal or nearly so,
    which is what template clustering needs. Lower-cased by default (after name
    detection, which relies on capitals).
    """
    if not prompt:
        return ""
    text = prompt
    for rx, rep in _mask_res():
        text = rx.sub(rep, text)
    text = text.strip()
    return text.lower() if lower else text


FRAME_WORDS = 8
FRAME_CHARS = 200
"""Only the head is masked for a frame: eight words fit in it, and masking is the costly part."""


def frame(prompt: str | None) -> str:
    """The first ``FRAME_WORDS`` words of the masked head of a prompt: a template's fixed frame,
    whatever its slots hold (the SQL form is features/account.py's ``frame_key``)."""
    return " ".join(mask((prompt or "")[:FRAME_CHARS]).split(" ")[:FRAME_WORDS])


# ------------------------------------------------------------------ elicitation
ELICITATION_PATTERNS: dict[str, tuple[float, str]] = {
    # Demands to reason step by step, in many phrasings and languages.
    "cot": (0.6, r"(?i)step[ -]by[ -]step|chain[ -]of[ -]thoughts?|\bshow (?:all )?(?:your|the) (?:work|working|reasoning|steps|thinking)"
                 r"|\bexplain (?:your|the) (?:reasoning|thinking|thought process|logic)|\bthink (?:carefully|it through|through|hard|aloud|out loud)"
                 r"|\blet'?s think\b|\breason (?:through|about it|carefully|step)|\bwalk (?:me|us) through|\bshow (?:me )?how you (?:got|arrived|solved)"
                 r"|\bjustify (?:your|each) (?:answer|step)|\bexplain (?:each|every) step|\bbefore answering,? (?:think|reason|explain)"
                 r"|一步一步|一步步|逐步|分步|详细(?:解释|说明|推理|步骤|分析)|推理过程|思考过程|思维链|解题(?:过程|步骤)|请解释"
                 r"|paso a paso|étape par étape|etape par etape|schritt für schritt|schritt fur schritt|шаг за шагом|passo a passo|passo dopo passo"
                 r"|ステップバイステップ|段階的に|順を追って|단계별로|차근차근"),
    # Demands that the *whole* trace be written out, not just the answer.
    "full_trace": (0.5, r"(?i)\b(?:full|complete|entire|detailed|thorough|exhaustive|explicit) (?:reasoning|chain|thought process|derivation|explanation|solution|rationale)"
                        r"|\b(?:all|every) (?:intermediate |the )?(?:steps|reasoning steps)|\bdo(?:n'?t| not) skip (?:any )?steps|\bthought process"
                        r"|\binner monologue|\bscratch ?pad|\bin (?:great |full )?detail\b|\bverbose(?:ly)?\b|\bshow (?:every|each) (?:step|calculation)"),
    # Forced output formats that separate trace and answer (what distillation data needs).
    "forced_format": (0.6, r"(?i)</?think>|</?thinking>|</?reasoning>|</?scratchpad>|</?answer>|\bfinal answer\s*:|####|\\boxed"
                           r"|\b(?:format|structure) your (?:response|answer|output)|\brespond (?:only )?in the (?:following|format)"
                           r"|\"(?:reasoning|rationale|thoughts?|explanation|chain_of_thought)\"\s*:|\b(?:reasoning|rationale)\s*:\s*<"
                           r"|\bfirst,? (?:think|reason|explain)[^.\n]{0,60}\bthen,? (?:answer|give|output|provide)|\bthe answer is \(?x\)?"),
}
"""category → (weight, RE2-compatible pattern). Scores combine as noisy-OR over categories."""

SYSTEM_PROMPT_BOOST = 0.15
"""Extra weight when the demand sits in the system prompt: a fixed system prompt that
forces traces on every request is a pipeline setting, not a one-off question."""


@lru_cache(maxsize=1)
def _elicit_res() -> dict[str, tuple[float, Any]]:
    return {k: (w, _search_rx(p)) for k, (w, p) in ELICITATION_PATTERNS.items()}


def elicitation_flags(prompt: str | None, system_prompt: str | None = None) -> frozenset[str]:
    """Which elicitation categories fire; system-prompt hits are prefixed ``system:``."""
    flags: set[str] = set()
    head = (prompt or "")[:HEAD_CHARS]
    tail = (prompt or "")[-HEAD_CHARS:] if prompt and len(prompt) > HEAD_CHARS else ""
    sys_text = (system_prompt or "")[: 4 * HEAD_CHARS]
    for name, (_, rx) in _elicit_res().items():
        if rx.search(head) or (tail and rx.search(tail)):
            flags.add(name)
        if sys_text and rx.search(sys_text):
            flags.add("system:" + name)
    return frozenset(flags)


def elicitation_score(flags: frozenset[str] | set[str]) -> float:
    """Noisy-OR of category weights; a category present in the system prompt gets a boost."""
    miss = 1.0
    for name, (w, _) in ELICITATION_PATTERNS.items():
        if ("system:" + name) in flags:
            miss *= 1.0 - min(1.0, w + SYSTEM_PROMPT_BOOST)
        elif name in flags:
            miss *= 1.0 - w
    return round(1.0 - miss, 6)


def elicitation(prompt: str | None, system_prompt: str | None = None) -> float:
    """Score in [0, 1]: how strongly this request demands a reasoning trace.

    0 = plain question; ~0.6 = one kind of demand ("step by step", or a forced
    ``<think>`` format); ~0.9 = several kinds together ("show your full reasoning
    step by step, then write Final answer:"). One such request means little — people
    ask for steps too — so detectors use the *share* of an account's requests above a
    level, together with its reasoning-token share.
    """
    return elicitation_score(elicitation_flags(prompt, system_prompt))


# ------------------------------------------------------------------ task family
_LANGS = r"english|french|spanish|german|chinese|japanese|korean|russian|italian|portuguese|arabic|hindi|dutch|turkish|polish|vietnamese"
TASK_FAMILY_RULES: tuple[tuple[str, str], ...] = (
    ("translation", rf"(?i)\btranslat(?:e|ion|ing)\b|\b(?:into|to) (?:{_LANGS})\b|翻译|译成|traduci|tradu[cz]|übersetz|перевед"),
    ("code", r"(?i)```|\bdef [A-Za-z_]+\(|#include|\bimport [a-z_]+|\b(?:python|javascript|typescript|java|c\+\+|c#|golang|rust|sql|regex|bash|html|css|php|kotlin|swift|react|numpy|pandas)\b"
             r"|\b(?:write|implement|create|fix|debug|refactor|optimi[sz]e) (?:a |an |the |this |my )?(?:[a-z]+ )?(?:function|program|script|class|method|code|query|api|endpoint)"
             r"|\b(?:source code|code snippet|stack trace|compile error|syntax error|unit tests?)\b|代码|编程|函数"),
    ("math", r"(?i)[0-9]+ ?[-+*/^×÷=] ?[0-9]+|\b(?:calculate|compute|solve|equation|integral|derivative|probability|how many|how much|sum of|product of|percent(?:age)?|remainder|prime|algebra|geometry|theorem|proof|arithmetic|math(?:s|ematics)?)\b|数学|计算|方程|多少"),
    ("summarisation", r"(?i)\b(?:summari[sz]e|summary|tl;?dr|extract|key points|main points|main idea|outline|condense|bullet points)\b|总结|摘要|提取|概括"),
    ("classification", r"(?i)\b(?:classify|classification|categori[sz]e|sentiment|positive or negative|spam or|which category|what category|label (?:the|this|each)|is this (?:review|text|tweet|email|message|sentence))\b|分类|情感"),
    ("reasoning", r"(?i)\b(?:puzzle|riddle|logic(?:al)?|deduce|infer|which of the following|true or false|options\s*:|answer choices|syllogism|entail|valid argument|sort the following|premise)\b|\([a-e]\) |推理|谜题|逻辑"),
    ("writing", r"(?i)\b(?:write|compose|draft|essay|poem|story|letter|blog|article|slogan|tweet|rewrite|paraphrase|proofread|lyrics|headline|cover letter|speech|haiku)\b|写|作文|诗"),
    ("roleplay", r"(?i)\b(?:pretend|act as|you are an? |role-?play|let'?s play|imagine you|i want you to act|hi|hello|hey|how are you|good morning)\b|你好|扮演"),
    ("qa", r"(?i)\?|^\s*(?:what|who|when|where|why|how|which|is|are|does|do|can|could|should|explain|define|describe|tell me|list|name)\b|什么|为什么|怎么|吗|如何"),
)
"""(family, RE2 pattern) in priority order: the first match wins; nothing → ``other``."""

TASK_FAMILIES: tuple[str, ...] = tuple(f for f, _ in TASK_FAMILY_RULES) + ("other",)


@lru_cache(maxsize=1)
def _family_res() -> tuple[tuple[str, Any], ...]:
    return tuple((f, _search_rx(p)) for f, p in TASK_FAMILY_RULES)


def task_family(prompt: str | None) -> str:
    """Coarse task family of a prompt, one of :data:`TASK_FAMILIES` (keyword rules, cheap)."""
    head = (prompt or "")[:HEAD_CHARS]
    for fam, rx in _family_res():
        if rx.search(head):
            return fam
    return "other"


# -------------------------------------------------------------------- follow-ups
FOLLOWUP_STRONG = (
    r"(?i)\b(?:above|previous|earlier|you said|you mentioned|you wrote|your (?:last|previous|first|earlier) (?:answer|response|reply|message|code|example)"
    r"|again|what about|how about|instead|continue|go on|keep going|elaborate|expand on|the same|that one|more detail|more examples"
    r"|make it|change it|shorten it|rewrite it|redo|the second one|the first one|as before)\b|继续|上面|刚才|上一个|再来|再写"
)
FOLLOWUP_LEADING = (
    r"(?i)^\s*(?:and|also|but|so|ok|okay|thanks|thank you|great|cool|nice|yes|yeah|no|nope|why|now|then|hmm|wait|sure|perfect|good|awesome|right)\b"
)
FOLLOWUP_PRONOUN = r"(?i)\b(?:it|that|those|them|one)\b"
FOLLOWUP_MAX_WORDS = 60
"""Messages longer than this are treated as standalone even if they contain back-references."""


@lru_cache(maxsize=1)
def _followup_res() -> tuple[Any, Any, Any]:
    return _search_rx(FOLLOWUP_STRONG), _search_rx(FOLLOWUP_LEADING), _search_rx(FOLLOWUP_PRONOUN)


def is_followup(prompt: str | None) -> bool:
    """True when a message reads as a reply within a conversation.

    Rules: a short-ish message (≤ 60 words) that points back ("above", "again", "what
    about", "make it shorter", "继续") or opens like a reply ("ok, now …", "thanks, but
    …"), or a very short message (≤ 6 words) built on a pronoun ("make it funnier").
    Harvesting scripts send self-contained prompts, so their follow-up share is near 0.
    """
    if not prompt:
        return False
    head = prompt[:HEAD_CHARS]
    n_words = len(head.split())
    if n_words == 0:
        return False
    strong, leading, pronoun = _followup_res()
    if n_words <= FOLLOWUP_MAX_WORDS and (strong.search(head) or leading.search(head)):
        return True
    return n_words <= 6 and bool(pronoun.search(head))


# ------------------------------------------------------------------ client kind
CLIENT_KIND_RULES: tuple[tuple[str, str], ...] = (
    ("sdk", r"(?i)openai[-/ ]?(?:python|node|go|java|dotnet|ruby)|\bopenai/|anthropic[-/ ]?(?:sdk|python|typescript|go|java)|@anthropic-ai|\banthropic/"
            r"|google-genai|vertexai|cohere-|mistralai|langchain|llama[-_]?index|litellm|azure-ai|boto3|botocore"),
    ("browser", r"(?i)mozilla/[0-9]|applewebkit|gecko/|chrome/[0-9]|safari/[0-9]|firefox/[0-9]|edg/[0-9]|opera"),
    ("http_lib", r"(?i)python-requests|python-urllib|urllib|aiohttp|httpx|curl|wget|go-http-client|okhttp|axios|node-fetch|undici|java/[0-9]|apache-httpclient"
                 r"|postmanruntime|scrapy|libwww|guzzle|restsharp|reqwest|python/[0-9]|http\.rb|faraday|powershell"),
)
"""(kind, RE2 pattern) in priority order; an SDK wraps an HTTP lib, so SDK is checked first."""

CLIENT_KINDS: tuple[str, ...] = ("sdk", "browser", "http_lib", "unknown", "none")


@lru_cache(maxsize=1)
def _client_res() -> tuple[tuple[str, Any], ...]:
    return tuple((k, _search_rx(p)) for k, p in CLIENT_KIND_RULES)


def client_kind(user_agent: str | None) -> str:
    """Classify a user-agent: ``sdk``, ``browser``, ``http_lib``, ``unknown`` or ``none`` (absent).

    Raw HTTP libraries (python-requests, aiohttp, curl) are what quick harvesting
    scripts use; products usually ship an official SDK, and people use a browser.
    It is a weak hint on its own: plenty of honest back-ends use ``requests``.
    """
    if user_agent is None or not user_agent.strip():
        return "none"
    for kind, rx in _client_res():
        if rx.search(user_agent):
            return kind
    return "unknown"


# ------------------------------------------------------------------ content pool
POOL_MIN_CHARS = 24
"""Segments shorter than this once normalised ("hi", "thanks!") are everyone's, not a dataset's."""
POOL_SPLIT = r"[.?!;:\n]+"
POOL_STRIP = r"[^a-z0-9]+"
POOL_SEGMENTS = 8
POOL_CHARS = 2000
"""Only the head is split into segments: eight of them fit, and splitting is the costly part."""


def pool_segments(prompt: str | None) -> list[str]:
    """A prompt's content-pool segments: its sentences and clauses (split on ``POOL_SPLIT``),
    lower-cased with everything but ASCII letters and digits removed, those of at least
    ``POOL_MIN_CHARS`` characters, the first ``POOL_SEGMENTS``. A dataset item wrapped in a
    chatty opener ("hey, quick one: <item>") still yields the item's own segments. The SQL
    form is in features/account.py (``pkeys``)."""
    if not prompt:
        return []
    out = []
    for seg in re.split(POOL_SPLIT, prompt[:POOL_CHARS].lower())[: 4 * POOL_SEGMENTS]:
        t = re.sub(POOL_STRIP, "", seg)
        if len(t) >= POOL_MIN_CHARS:
            out.append(t)
            if len(out) == POOL_SEGMENTS:
                break
    return out


__all__ = [
    "CLIENT_KINDS", "CLIENT_KIND_RULES", "ELICITATION_PATTERNS", "FOLLOWUP_LEADING", "FOLLOWUP_MAX_WORDS",
    "FOLLOWUP_PRONOUN", "FOLLOWUP_STRONG", "HEAD_CHARS", "MASK_RULES", "SYSTEM_PROMPT_BOOST", "TASK_FAMILIES",
    "TASK_FAMILY_RULES", "client_kind", "elicitation", "elicitation_flags", "elicitation_score", "is_followup",
    "frame", "mask", "pool_segments", "FRAME_WORDS", "task_family", "POOL_MIN_CHARS", "POOL_STRIP", "POOL_SPLIT",
]
