"""The built-in prompt generator: varied, compositional, and shared by everyone.

The demo must run without downloading a corpus, so prompts are composed from templates
over topics, tasks and styles. Two rules keep it honest as a measuring stick:

* **One vocabulary for everyone.** Benign personas and attack campaigns draw from the
  same families (a student's word problem and a harvester's word problem come from the
  same generator); what differs is the *mix*, the volume and the wrapping, which is what
  distillation actually changes.
* **Large combinatorial space.** Families combine several slot lists and numeric slots,
  so a harvester asking 100k questions gets mostly distinct text, and a pipeline with one
  template still varies its slot fillers.

Nothing here is copied from a corpus; the lists are written for this project.
"""

from __future__ import annotations

import random
from typing import Callable

import numpy as np

Rng = random.Random  # text assembly uses the stdlib PRNG: ~10x cheaper per pick, still seeded

TOPICS = [
    "photosynthesis", "black holes", "the French revolution", "inflation", "compound interest", "vaccines",
    "climate change", "the stock market", "machine learning", "blockchain", "the immune system", "plate tectonics",
    "the Roman empire", "quantum computing", "supply and demand", "sleep cycles", "nuclear fusion", "DNA replication",
    "the electoral college", "jazz history", "the printing press", "coral reefs", "antibiotic resistance",
    "the water cycle", "game theory", "renewable energy", "the cold war", "neural networks", "volcanoes",
    "the human microbiome", "cryptography", "urban planning", "the placebo effect", "tides", "minimalism",
    "stoicism", "the industrial revolution", "interest rates", "carbon capture", "gene editing", "the silk road",
]
THINGS = [
    "gift", "restaurant", "book", "laptop", "podcast", "hiking trail", "board game", "houseplant", "recipe",
    "movie", "running shoe", "budget app", "coffee maker", "camera", "travel destination", "exercise routine",
    "name for my cat", "weekend activity", "side dish", "study technique",
]
OCCASIONS = [
    "my mom's birthday", "a first date", "a rainy Sunday", "a team offsite", "a long flight", "my anniversary",
    "a kid's party", "a job interview", "a camping trip", "Thanksgiving dinner", "a beginner", "someone on a budget",
]
CHORES = [
    "get red wine out of a carpet", "fix a squeaky door", "unclog a drain", "negotiate my rent", "start running",
    "fall asleep faster", "cook rice without a rice cooker", "write a cover letter", "learn Spanish quickly",
    "ask for a raise", "save for a house", "keep basil alive", "stop procrastinating", "clean a cast iron pan",
    "plan a wedding on a budget", "meal prep for a week", "prepare for a marathon", "set up a home network",
    "remove a stripped screw", "train my puppy to sit", "improve my credit score", "make sourdough bread",
]
AUDIENCES = ["a five year old", "a high school student", "my grandmother", "an expert", "a busy executive",
             "someone who hates math", "a new employee", "a non-native speaker"]
LANGS = ["Python", "JavaScript", "TypeScript", "Go", "Rust", "Java", "C++", "SQL", "Bash", "Kotlin", "C#", "Ruby"]
CODE_TASKS = [
    "reverse a linked list", "parse a CSV file with quoted fields", "debounce a function", "read a large file line by line",
    "merge two sorted arrays", "validate an email address", "retry an HTTP request with backoff", "flatten a nested list",
    "find duplicates in a list", "compute a moving average", "paginate an API", "hash a password securely",
    "deduplicate rows in a table", "convert a timestamp to another timezone", "implement an LRU cache",
    "stream a response to the client", "write a binary search", "group records by key", "batch database inserts",
    "parse command line arguments", "serialize an object to JSON", "run tasks concurrently", "detect a cycle in a graph",
    "compute the median of a stream", "schedule a cron job", "mock a network call in tests", "rate limit requests",
]
ERRORS = [
    "TypeError: 'NoneType' object is not subscriptable", "undefined is not a function", "segmentation fault",
    "IndexError: list index out of range", "deadlock detected", "cannot borrow as mutable", "NullPointerException",
    "ModuleNotFoundError", "CORS policy blocked the request", "connection reset by peer", "out of memory",
    "KeyError", "syntax error near unexpected token", "timeout exceeded", "permission denied",
]
RECIPIENTS = ["my manager", "a client", "the finance team", "a new hire", "our vendor", "the board", "a customer",
              "my landlord", "the hiring committee", "a colleague", "our investors", "the support team"]
BIZ_TOPICS = [
    "a delayed shipment", "the Q3 budget", "a price increase", "a product launch", "an outage last night",
    "a contract renewal", "the new remote work policy", "a missed deadline", "hiring plans", "a partnership proposal",
    "a refund request", "the quarterly results", "a security incident", "an office move", "a training program",
]
DOC_TYPES = ["press release", "job description", "product description", "LinkedIn post", "meeting agenda",
             "project proposal", "executive summary", "FAQ", "onboarding checklist", "blog post outline", "slogan"]
PRODUCTS = ["a meal kit service", "a budgeting app", "an electric bike", "a project management tool", "a yoga studio",
            "a coffee subscription", "a language learning app", "a smart thermostat", "a dental clinic", "a law firm"]
NAMES = ["Maria", "James", "Aisha", "Chen", "Olga", "Diego", "Priya", "Tom", "Fatima", "Kenji", "Lena", "Omar",
         "Sophie", "Raj", "Ana", "Ben", "Yuki", "Carlos", "Nina", "Samuel"]
ITEMS = ["apples", "stickers", "marbles", "books", "cupcakes", "pencils", "tickets", "cards", "eggs", "shirts",
         "cookies", "plants", "toy cars", "bottles", "candles"]
STYLES = ["", "", "", "Be concise. ", "Keep it short. ", "Use bullet points. ", "In plain English, ",
          "Briefly, ", "In detail, ", "Give me an example. "]
GREETINGS = ["", "", "", "", "hi, ", "hey ", "hello! ", "quick question: ", "ok so ", "please help: "]
SIGNOFFS = ["", "", "", "", " thanks", " thank you!", " pls", " asap", " :)", " ty"]
FOLLOWUPS = [
    "can you make it shorter?", "why?", "what about {topic}?", "give me another example", "explain the second point",
    "can you say that more simply?", "ok and what if I don't have time for that?", "thanks! one more thing - {chore}?",
    "make it more formal", "translate that into {lang2}", "are you sure?", "what are the downsides?",
    "can you put that in a table?", "now do the same for {thing}", "that didn't work, any other ideas?",
    "how long would that take?", "what would you recommend for a beginner?", "summarize that in one sentence",
]
LANG2 = ["Spanish", "French", "German", "Japanese", "Portuguese", "Hindi", "Korean", "Italian"]
ADJ = ["short", "funny", "formal", "friendly", "persuasive", "detailed", "simple", "creative", "professional"]
SCI = ["Why is the sky blue?", "What causes the seasons?", "How do magnets work?", "What is the difference between a virus and a bacterium?",
       "Why does ice float?", "How do airplanes stay in the air?", "What is an isotope?", "Why do we have leap years?",
       "How does a refrigerator work?", "What is entropy?", "What makes a rainbow?", "How do vaccines train the immune system?"]


def _pick(rng: Rng, seq: list[str]) -> str:
    return seq[int(rng.random() * len(seq))]


SENT = [
    "We talked about {a} and agreed to revisit {b} next week.", "The main issue is that {a} depends on {b}.",
    "{n} thinks {a} is more important than {b}, but I'm not sure.", "Our deadline for {a} moved to Friday.",
    "Customers keep asking about {a}.", "I read that {a} changed a lot after {b}.", "Nobody owns {a} right now.",
    "The numbers for {a} look better than last quarter.", "{n} asked me to double-check {b}.",
    "Honestly {a} is confusing me.", "There was a long discussion about {a} versus {b}.",
]


def paste(rng: Rng) -> str:
    """A pasted block of text (notes, an email, an article excerpt): humans paste a lot."""
    n = rng.randrange(3, 25)
    return " ".join(_pick(rng, SENT).format(a=_pick(rng, TOPICS + BIZ_TOPICS), b=_pick(rng, TOPICS + BIZ_TOPICS),
                                            n=_pick(rng, NAMES)) for _ in range(n))


def _chat(rng: Rng) -> str:
    k = rng.randrange(0, 11)
    if k >= 9:
        return _pick(rng, ["can you summarize this?", "proofread this please:", "what's the tone of this text?",
                           "make this sound better:", "tl;dr?", "explain this to me:"]) + "\n\n" + paste(rng)
    if k == 0:
        s = f"what's a good {_pick(rng, THINGS)} for {_pick(rng, OCCASIONS)}?"
    elif k == 1:
        s = f"how do I {_pick(rng, CHORES)}"
    elif k == 2:
        s = f"explain {_pick(rng, TOPICS)} to {_pick(rng, AUDIENCES)}"
    elif k == 3:
        s = f"I'm trying to {_pick(rng, CHORES)} but I keep failing. any tips?"
    elif k == 4:
        s = f"write a {_pick(rng, ADJ)} poem about {_pick(rng, TOPICS)}"
    elif k == 5:
        s = f"is it true that {_pick(rng, TOPICS)} is overrated? what do you think"
    elif k == 6:
        s = f"tell me a {_pick(rng, ADJ)} story about {_pick(rng, NAMES)} and {_pick(rng, ITEMS)}"
    elif k == 7:
        s = _pick(rng, SCI)
    else:
        s = f"what should I know before I {_pick(rng, CHORES)}?"
    return _pick(rng, GREETINGS) + _pick(rng, STYLES) + s + _pick(rng, SIGNOFFS)


def _code(rng: Rng) -> str:
    lang, task = _pick(rng, LANGS), _pick(rng, CODE_TASKS)
    k = rng.randrange(0, 7)
    if k == 0:
        return f"How do I {task} in {lang}?"
    if k == 1:
        var = _pick(rng, ["data", "items", "rows", "resp", "cfg", "users", "buf"])
        return (f"I'm getting `{_pick(rng, ERRORS)}` in my {lang} code when I try to {task}. Here's the snippet:\n\n"
                f"    result = process({var}[{rng.randrange(0, 9)}])\n    return result.{var}\n\nWhat am I doing wrong?")
    if k == 2:
        return f"Write a {lang} function to {task}. Include tests."
    if k == 3:
        return f"What's the idiomatic way to {task} in {lang}? I come from {_pick(rng, LANGS)}."
    if k == 4:
        return f"Review this approach: I {task} by looping {rng.randrange(2, 50)} times and caching results. Is there a faster way in {lang}?"
    if k == 5:
        return f"Explain the time complexity of the usual way to {task}."
    return f"convert this {_pick(rng, LANGS)} snippet that does '{task}' into {lang}"


def _business(rng: Rng) -> str:
    k = rng.randrange(0, 8)
    if k >= 6:
        return (_pick(rng, ["Reply to this email politely:", "Summarize this thread for my manager:",
                            "Turn these notes into action items:", "Rewrite this more concisely:"])
                + "\n\n" + paste(rng))
    if k == 0:
        return f"Draft a {_pick(rng, ADJ)} email to {_pick(rng, RECIPIENTS)} about {_pick(rng, BIZ_TOPICS)}."
    if k == 1:
        return f"Write a {_pick(rng, DOC_TYPES)} for {_pick(rng, PRODUCTS)}."
    if k == 2:
        return (f"Summarize these notes for {_pick(rng, RECIPIENTS)}: we discussed {_pick(rng, BIZ_TOPICS)}, "
                f"{_pick(rng, BIZ_TOPICS)} and next steps for {_pick(rng, PRODUCTS)}.")
    if k == 3:
        return f"Rewrite this to sound more {_pick(rng, ADJ)}: 'We regret to inform you about {_pick(rng, BIZ_TOPICS)}.'"
    if k == 4:
        return f"Give me {rng.randrange(3, 11)} ideas to market {_pick(rng, PRODUCTS)} to {_pick(rng, AUDIENCES)}."
    return f"What are the pros and cons of {_pick(rng, BIZ_TOPICS)} for a company like {_pick(rng, PRODUCTS)}?"


def _math(rng: Rng) -> str:
    n1, n2 = _pick(rng, NAMES), _pick(rng, NAMES)
    a, b, c = (rng.randrange(2, 60) for _ in range(3))
    it = _pick(rng, ITEMS)
    price = round(rng.uniform(0.5, 25), 2)
    k = rng.randrange(0, 8)
    if k == 0:
        return f"{n1} has {a} {it}. {n1} buys {b} packs with {c} {it} in each pack. How many {it} does {n1} have now?"
    if k == 1:
        return f"{n1} sells {it} for ${price} each. On Monday {n1} sold {a}, and on Tuesday twice as many. How much money did {n1} make?"
    if k == 2:
        return f"A train travels {a * 10} km in {b % 7 + 1} hours. At the same speed, how far does it go in {c % 9 + 2} hours?"
    if k == 3:
        return f"{n1} is {a} years old. {n2} is {b % 10 + 2} times as old as {n1} was {min(a - 1, c % 5 + 1)} years ago. How old is {n2}?"
    if k == 4:
        return f"A recipe needs {a} cups of flour for {b % 8 + 2} people. How many cups are needed for {c % 20 + 3} people?"
    if k == 5:
        return f"{n1} saves ${a} per week. {n2} saves ${b} every two weeks. After {c % 20 + 4} weeks, how much more has {n1} saved than {n2}?"
    if k == 6:
        return f"A store gives {a % 40 + 5}% off a ${c * 3} jacket, then charges {b % 10 + 3}% tax. What is the final price?"
    return f"There are {a + b} students in a class. {a} of them like {it}. What fraction of the class does not like {it}?"


def _reasoning(rng: Rng) -> str:
    a, b, c = (rng.randrange(2, 40) for _ in range(3))
    names = rng.sample(NAMES, 3)
    k = rng.randrange(0, 7)
    if k == 0:
        return f"{names[0]} is taller than {names[1]}. {names[1]} is taller than {names[2]}. Who is the shortest?"
    if k == 1:
        return f"What is the next number in the sequence {a}, {a + b}, {a + 2 * b}, {a + 3 * b}, ...?"
    if k == 2:
        return (f"If all {_pick(rng, ITEMS)} are {_pick(rng, ITEMS)} and some {_pick(rng, ITEMS)} are red, "
                f"can we conclude that some {_pick(rng, ITEMS)} are red?")
    if k == 3:
        return f"Today is the {a % 28 + 1}th. {names[0]}'s meeting is in {b + c} days. If this month has 30 days, what date is the meeting?"
    if k == 4:
        return f"A bat and a ball cost ${a + 0.1:.2f} in total. The bat costs ${a:.2f} more than the ball. How much does the ball cost?"
    if k == 5:
        return f"Three boxes are labelled wrong: {_pick(rng, ITEMS)}, {_pick(rng, ITEMS)}, mixed. You may open one box. Which one and why?"
    return f"Is {a * c + 1} a prime number? Prove it."


def _instruction(rng: Rng) -> str:
    k = rng.randrange(0, 10)
    n = rng.randrange(3, 11)
    if k == 0:
        return f"Generate a list of {n} {_pick(rng, ADJ)} names for {_pick(rng, PRODUCTS)}."
    if k == 1:
        return f"Give {n} tips to {_pick(rng, CHORES)}."
    if k == 2:
        return f"Classify the following as positive or negative: \"The {_pick(rng, THINGS)} was {_pick(rng, ADJ)} but arrived late.\""
    if k == 3:
        return f"Rewrite the sentence in passive voice: {_pick(rng, NAMES)} delivered the {_pick(rng, ITEMS)} to {_pick(rng, RECIPIENTS)}."
    if k == 4:
        return f"Explain the concept of {_pick(rng, TOPICS)} in {n} sentences."
    if k == 5:
        return f"Compare and contrast {_pick(rng, TOPICS)} and {_pick(rng, TOPICS)}."
    if k == 6:
        return f"Write a {_pick(rng, ADJ)} {_pick(rng, DOC_TYPES)} about {_pick(rng, TOPICS)}."
    if k == 7:
        return f"Translate into {_pick(rng, LANG2)}: \"I would like to {_pick(rng, CHORES)}.\""
    if k == 8:
        return f"Identify the main idea of this text: {_pick(rng, TOPICS).capitalize()} has changed how we think about {_pick(rng, TOPICS)}."
    return f"Create a {n}-question quiz about {_pick(rng, TOPICS)}."


def _factual(rng: Rng) -> str:
    k = rng.randrange(0, 5)
    t = _pick(rng, TOPICS)
    return [f"who discovered {t}", f"when did {t} start", f"what is {t}", f"{t} definition", f"how does {t} work"][k]


TEMPLATE_FAMILIES: dict[str, Callable[[Rng], str]] = {
    "review_sentiment": lambda r: (f"Classify the sentiment of this customer review as positive, neutral or negative.\n"
                                   f"Review: The {_pick(r, THINGS)} {_pick(r, ['was', 'felt', 'seemed'])} {_pick(r, ADJ)}; "
                                   f"{_pick(r, ['would buy again', 'not worth it', 'okay for the price', 'shipping took forever'])}."),
    "ticket_summary": lambda r: (f"Summarize this support ticket in one sentence and assign a category.\n"
                                 f"Ticket #{r.randrange(10000, 99999)}: Customer reports {_pick(r, BIZ_TOPICS)} affecting "
                                 f"{_pick(r, PRODUCTS)}. Error: {_pick(r, ERRORS)}."),
    "invoice_extract": lambda r: (f"Extract vendor, invoice number, date and total as JSON.\nINVOICE {r.randrange(1000, 9999)}-"
                                  f"{r.randrange(10, 99)} from {_pick(r, NAMES)} Supplies, dated 2026-{r.randrange(1, 13):02d}-"
                                  f"{r.randrange(1, 29):02d}, total ${r.randrange(20, 9000)}.{r.randrange(0, 100):02d}"),
    "product_copy": lambda r: (f"Write a {r.randrange(30, 120)}-word product description for: {_pick(r, THINGS)}, "
                               f"colour {_pick(r, ['black', 'white', 'sage', 'navy', 'red'])}, aimed at {_pick(r, AUDIENCES)}."),
    "translate_ui": lambda r: f"Translate the UI string into {_pick(r, LANG2)}. Keep placeholders.\nString: \"{_pick(r, ['Save', 'Your order {id} has shipped', 'Try again later', 'Welcome back, {name}', 'Delete account?'])}\"",
    "email_triage": lambda r: (f"Label this email as one of: billing, sales, support, spam.\nSubject: {_pick(r, BIZ_TOPICS).capitalize()}\n"
                               f"From: {_pick(r, RECIPIENTS)}"),
}
ELICITATIONS = [
    "Let's think step by step.", "Think step by step.", "Show every step of your reasoning.",
    "Explain your reasoning in detail before giving the final answer.", "Walk me through your thought process.",
    "Reason carefully and show all intermediate steps.", "Please show your work.",
    "First write your full reasoning inside <think>...</think>, then give the final answer.",
    "Format: <reasoning>all steps</reasoning><answer>final answer</answer>",
    "Break the problem into steps and justify each one.", "Explain how you got the answer.",
    "Give a detailed chain of reasoning, then 'Final answer:' on the last line.",
    "Don't skip any steps.", "Think it through out loud before answering.", "Answer with a step-by-step derivation.",
]
SYSTEM_PROMPTS = {
    "assistant": ["You are a helpful assistant.", "You are a friendly assistant. Answer clearly.", ""],
    "support": ["You are a support agent for {org}. Be polite and concise.", "You are {org}'s internal assistant. Follow company tone."],
    "tutor": ["You are a patient math tutor. Think step by step.", "You are a tutor. Explain answers so a student can follow."],
    "cot": ["You are an expert problem solver. Always reason step by step and show your complete reasoning before the answer.",
            "Think step by step. Output all intermediate reasoning, then the final answer.",
            "You are a careful reasoner. Write out your entire chain of thought."],
    "coder": ["You are an expert software engineer.", "You are a senior {lang} developer. Answer with code.", ""],
}

FAMILIES: dict[str, Callable[[Rng], str]] = {
    "chat": _chat, "code": _code, "business": _business, "math": _math, "reasoning": _reasoning,
    "instructions": _instruction, "factual": _factual,
}


def followup(rng: Rng) -> str:
    """A natural follow-up turn for a multi-turn conversation."""
    return _pick(rng, FOLLOWUPS).format(topic=_pick(rng, TOPICS), chore=_pick(rng, CHORES), lang2=_pick(rng, LANG2),
                                        thing=_pick(rng, THINGS))


def generate(nrng: np.random.Generator, family: str, n: int, template: str | None = None) -> list[tuple[str, ...]]:
    """``n`` single-turn records of one family (``templated`` needs a template name)."""
    rng = random.Random(int(nrng.integers(0, 2**63)))
    if family == "templated":
        names = sorted(TEMPLATE_FAMILIES)
        fn = TEMPLATE_FAMILIES[template or names[0]]
        return [(fn(rng),) for _ in range(n)]
    fn = FAMILIES[family]
    return [(fn(rng),) for _ in range(n)]


def system_prompt(rng: Rng, kind: str) -> str:
    """A system prompt of a kind, with an organisation or language filled in."""
    return _pick(rng, SYSTEM_PROMPTS[kind]).format(org=_pick(rng, ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay"]),
                                                   lang=_pick(rng, LANGS))


def paraphrase(rng: Rng, text: str) -> str:
    """Light human-style variation: greeting, casing, sign-off, trailing punctuation."""
    r = rng.random()
    if r < 0.2:
        text = text[0].lower() + text[1:]
    elif r < 0.3:
        text = text.rstrip("?.!")
    return _pick(rng, GREETINGS) + text + _pick(rng, SIGNOFFS)


WRAP_HEADS = ["Task", "Instruction", "Question", "Problem", "Input", "Query", "Prompt", "Request"]
WRAP_TAILS = ["Respond in English.", "Answer thoroughly.", "Be comprehensive.", "Provide a high-quality answer.",
              "Output only the answer.", "Use markdown.", "", "Respond as an expert would."]


def make_wrapper(rng: Rng) -> str:
    """A prompt-template wrapper with a ``{p}`` slot, randomised per campaign or pipeline."""
    head = _pick(rng, WRAP_HEADS)
    sep = _pick(rng, [": ", ":\n", " -> ", "\n\n", " | "])
    tail = _pick(rng, WRAP_TAILS)
    tag = _pick(rng, ["", f"[{_pick(rng, ['id', 'job', 'batch', 'q'])}-{{i}}] ", "### "])
    return f"{tag}{head}{sep}{{p}}" + (f"\n\n{tail}" if tail else "")
