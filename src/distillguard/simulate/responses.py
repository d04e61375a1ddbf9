"""Responses for simulated events: real prompt-response pairs from the corpus, or built-in ones.

* :func:`load_corpus_responses` reads ``<corpus>/responses/*.jsonl.gz`` (see the corpus
  MANIFEST: human GSM8K solutions, GPT-3 and code-davinci-002 traces, Alpaca outputs) by
  path; nothing is copied into the repository.
* :func:`builtin_pair` writes a plausible prompt and answer of its own: grade-school word
  problems with a step-by-step trace and a ``#### n`` final line, and short explanations, so
  the demo and tests have responses (and reasoning traces) without a download. The wording is
  varied on purpose (synonyms, connectives, ``x`` or ``*``) like real model text.
* :func:`attach_responses` fills an events table's ``response`` column (and returns the
  reasoning traces) from either source, deterministically per ``request_id``.

Written for this project; no text is taken from a corpus.
"""

from __future__ import annotations

import gzip
import json
import random
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from distillguard.errors import InputError

NAMES = ["Maya", "Omar", "Lena", "Ravi", "Sofia", "Tom", "Aisha", "Ben", "Chloe", "Diego", "Emma", "Farid",
         "Grace", "Hugo", "Ines", "Jonas", "Kira", "Liam", "Mei", "Nora"]
ITEMS = [("apple", "apples", 1, 3), ("notebook", "notebooks", 2, 6), ("ticket", "tickets", 5, 20),
         ("plant", "plants", 3, 12), ("cupcake", "cupcakes", 2, 5), ("marble", "marbles", 1, 2),
         ("book", "books", 4, 15), ("shirt", "shirts", 8, 25), ("toy car", "toy cars", 3, 9), ("pencil", "pencils", 1, 2)]
BUY = ["buys", "purchases"]
BOUGHT = ["bought", "purchased"]
SO = ["So", "Thus", "So", "Therefore", "Hence"]
SUM = ["altogether", "in total"]
MUL = ["x", "*"]
TOPICS = [("photosynthesis", "plants turn light into chemical energy", "leaves"),
          ("compound interest", "interest is earned on earlier interest", "savings"),
          ("the water cycle", "water evaporates, condenses and falls again", "rain"),
          ("inflation", "prices rise and money buys less", "wages"),
          ("vaccines", "the immune system learns to recognise a pathogen", "antibodies"),
          ("plate tectonics", "the crust moves on the mantle", "earthquakes"),
          ("supply and demand", "prices settle where buyers and sellers agree", "markets"),
          ("neural networks", "layers of weighted sums learn patterns from data", "training")]


def _math(r: random.Random) -> tuple[str, str]:
    name = r.choice(NAMES)
    item, items, lo, hi = r.choice(ITEMS)
    a, b, price = r.randint(2, 30), r.randint(2, 30), r.randint(lo, hi)
    kind = r.randrange(3)
    if kind == 0:
        q = (f"{name} {r.choice(BUY)} {a} {items} on Monday and {b} more on Tuesday. Each {item} costs ${price}. "
             f"How much does {name} spend {r.choice(SUM)}?")
        n = a + b
        steps = [f"{name} {r.choice(BOUGHT)} {a} + {b} = {n} {items} {r.choice(SUM)}.",
                 f"Each {item} costs ${price}, so {name} needs {n} {r.choice(MUL)} {price} = ${n * price}.",
                 f"{r.choice(SO)} {name} spends ${n * price}."]
        ans = n * price
    elif kind == 1:
        c = r.randint(1, a)
        q = (f"{name} has {a} {items}, gives away {c} and then {r.choice(BUY)} {b} packs of 2. "
             f"How many {items} does {name} have now?")
        left, new = a - c, 2 * b
        steps = [f"After giving away {c}, {name} has {a} - {c} = {left} {items} left.",
                 f"The packs hold {b} {r.choice(MUL)} 2 = {new} {items}, because each pack has 2.",
                 f"{r.choice(SO)} {name} has {left} + {new} = {left + new} {items} now."]
        ans = left + new
    else:
        w = r.randint(2, 9)
        q = (f"A shop sells {a} {items} per day for {w} weeks. How many {items} does it sell {r.choice(SUM)}? "
             f"Let's think step by step.")
        days = 7 * w
        steps = [f"There are 7 {r.choice(MUL)} {w} = {days} days in {w} weeks.",
                 f"The shop sells {a} {items} each day, so it needs to calculate {days} {r.choice(MUL)} {a} = {days * a}.",
                 f"{r.choice(SO)} the whole amount is {days * a} {items}."]
        ans = days * a
    return q, "\n".join(steps) + f"\n#### {ans}"


def _explain(r: random.Random) -> tuple[str, str]:
    topic, gist, ex = r.choice(TOPICS)
    q = r.choice([f"Explain {topic} in simple terms.", f"What is {topic}? Keep it short.",
                  f"Can you give me a quick overview of {topic}?"])
    parts = [f"In short, {topic} means that {gist}.",
             f"It matters because it {r.choice(['often', 'usually'])} shapes {ex}.",
             f"{r.choice(['For example', 'For instance'])}, a {r.choice(['large', 'big'])} change in {ex} "
             f"does not happen at once.",
             f"{r.choice(SO)} the {r.choice(['whole', 'entire'])} process is gradual."]
    return q, " ".join(parts[: r.randint(3, 4)])


def builtin_pair(seed: int | str, family: str | None = None) -> tuple[str, str]:
    """One (prompt, response) pair; ``family`` 'math' or 'explain' (None: 70% math)."""
    r = random.Random(f"builtin-response\x1f{seed}")
    fam = family or ("math" if r.random() < 0.7 else "explain")
    return _math(r) if fam == "math" else _explain(r)


def builtin_pairs(n: int, seed: int = 0, family: str | None = None) -> list[tuple[str, str]]:
    """``n`` pairs with distinct prompts."""
    out, seen, i = [], set(), 0
    while len(out) < n and i < n * 20:
        p = builtin_pair(f"{seed}-{i}", family)
        i += 1
        if p[0] not in seen:
            seen.add(p[0])
            out.append(p)
    return out


@dataclass(frozen=True)
class CorpusResponse:
    id: str
    prompt: str
    response: str
    reasoning: bool
    source: str
    subset: str | None = None


def load_corpus_responses(corpus: str | Path, files: Sequence[str] | None = None,
                          limit: int | None = None) -> list[CorpusResponse]:
    """Records of ``<corpus>/responses/<name>.jsonl.gz`` (all files, or those named, e.g. 'gsm8k')."""
    d = Path(corpus) / "responses"
    if not d.is_dir():
        raise InputError("no responses/ folder in the corpus", source=str(d))
    paths = sorted(d.glob("*.jsonl.gz")) if files is None else [d / f"{f}.jsonl.gz" for f in files]
    out: list[CorpusResponse] = []
    for p in paths:
        if not p.exists():
            raise InputError("response file not found", source=str(p))
        with gzip.open(p, "rt", encoding="utf-8") as f:
            for line in f:
                rec = json.loads(line)
                out.append(CorpusResponse(rec["id"], rec["prompt"], rec["response"], bool(rec.get("reasoning")),
                                          rec.get("source", ""), rec.get("subset")))
                if limit is not None and len(out) >= limit:
                    return out
    return out


def _pick(request_id: str, n: int) -> int:
    return zlib.crc32(request_id.encode()) % n


def attach_responses(events: pa.Table, corpus: str | Path | None = None,
                     files: Sequence[str] | None = None,
                     records: Sequence[CorpusResponse] | None = None) -> tuple[pa.Table, pa.Table]:
    """Replace ``response`` with a real (corpus) or built-in answer per event.

    With a corpus, an event whose prompt is a corpus prompt gets that prompt's real response;
    other events get a response drawn deterministically by ``request_id`` from records of the
    same kind (reasoning traces for prompts that ask for steps or reason, direct answers
    otherwise). Events served by a reasoning model (``reasoning_tokens > 0``) whose answer is
    a trace get the trace as a separate reasoning text and its final answer as the response.
    Returns the new events table and a ``(request_id, reasoning)`` table of those traces.
    """
    from distillguard.protect.degrade import final_answer

    prompts = events.column("prompt").to_pylist()
    rids = events.column("request_id").to_pylist()
    rtok = (events.column("reasoning_tokens").to_pylist() if "reasoning_tokens" in events.column_names
            else [0] * len(rids))
    responses: list[str] = []
    t_ids: list[str] = []
    t_text: list[str] = []
    if corpus is not None or records is not None:
        recs = list(records) if records is not None else load_corpus_responses(corpus, files)  # type: ignore[arg-type]
        if not recs:
            raise InputError("no response records", source=str(corpus))
        by_prompt = {r.prompt: r for r in recs}
        reasoning = [r for r in recs if r.reasoning] or recs
        direct = [r for r in recs if not r.reasoning] or recs
        chosen = []
        for p, rid in zip(prompts, rids):
            rec = by_prompt.get(p or "")
            if rec is None:
                low = (p or "").lower()
                pool = reasoning if ("step" in low or "reason" in low or "think" in low) else direct
                rec = pool[_pick(rid, len(pool))]
            chosen.append((rec.response, rec.reasoning))
    else:
        chosen = []
        for p, rid in zip(prompts, rids):
            low = (p or "").lower()
            fam = ("math" if any(w in low for w in ("step", "how many", "how much", "solve", "calculate", "math"))
                   else "explain")
            chosen.append((builtin_pair(rid, fam)[1], fam == "math"))
    for (resp, is_trace), rid, rt in zip(chosen, rids, rtok):
        if is_trace and (rt or 0) > 0:
            t_ids.append(rid)
            t_text.append(resp)
            resp = final_answer(resp)[0]
        responses.append(resp)
    col = pa.array(responses, type=pa.string())
    i = events.schema.get_field_index("response")
    table = events.set_column(i, events.schema.field(i), col) if i >= 0 else events.append_column("response", col)
    traces = pa.table({"request_id": pa.array(t_ids, pa.string()), "reasoning": pa.array(t_text, pa.string())})
    return table, traces


def iter_pairs(corpus: str | Path | None, files: Sequence[str] | None = None, n: int = 1000,
               seed: int = 0) -> Iterator[tuple[str, str]]:
    """(prompt, response) pairs for experiments: the corpus files named, or built-in ones."""
    if corpus is None:
        yield from builtin_pairs(n, seed)
        return
    for r in load_corpus_responses(corpus, files, limit=n):
        yield r.prompt, r.response


RESPONSE_MODES = ("placeholder", "builtin", "corpus")


def attach_world_responses(world, mode: str, corpus: str | Path | None = None) -> None:  # type: ignore[no-untyped-def]
    """Give every logged response of a generated world a real (``corpus``) or built-in answer,
    and record reasoning traces in ``world.reasoning`` (written as <provider>/reasoning.parquet).
    Providers that log no responses (``responses = false``) are left alone."""
    if mode not in RESPONSE_MODES:
        raise InputError(f"responses must be one of {', '.join(RESPONSE_MODES)}, got {mode!r}", source="responses")
    if mode == "placeholder":
        return
    if mode == "corpus" and corpus is None:
        raise InputError("--responses corpus needs --corpus DIR (it reads DIR/responses/*.jsonl.gz)",
                         source="responses")
    recs = load_corpus_responses(corpus) if mode == "corpus" else None  # type: ignore[arg-type]
    logs = {p.name: p.responses for p in world.scenario.providers}
    for name, ev in list(world.events.items()):
        if not logs.get(name, True):
            continue
        world.events[name], world.reasoning[name] = attach_responses(ev, records=recs) if recs is not None \
            else attach_responses(ev)
