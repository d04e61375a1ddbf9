"""Who the accounts are: ids, emails, cards, countries, signup dates, clients.

Identity formats are shared by every persona: an attacker's account id, email local part
or card fingerprint is drawn by the same functions as a customer's, so formats never leak
the label. What differs is the mixture (more disposable domains, more patterned local
parts, shared cards), and every such trait also occurs among benign customers (agencies
use patterned emails on one card, students sign up the same day, some people use
disposable mail).
"""

from __future__ import annotations

import numpy as np

from distillguard.simulate.netblocks import COUNTRIES

FIRST = ["anna", "ben", "carlos", "dana", "eli", "fatima", "george", "hana", "ivan", "julia", "kai", "lucas", "maya",
         "nora", "omar", "priya", "quinn", "rosa", "sam", "tara", "umar", "vera", "wei", "xavier", "yara", "zoe",
         "li", "amit", "sofia", "mateo", "chloe", "noah", "emma", "arjun", "mei", "felix", "ines", "jonas", "aiko", "leo"]
LAST = ["smith", "garcia", "chen", "muller", "rossi", "kim", "singh", "nguyen", "silva", "kowalski", "brown", "martin",
        "tanaka", "okafor", "ivanova", "lopez", "wang", "patel", "dubois", "jensen", "cohen", "ali", "park", "costa",
        "schmidt", "moreau", "yamamoto", "novak", "haddad", "fischer"]
WORDS = ["data", "neo", "blue", "pixel", "alpha", "nova", "tech", "cloud", "fox", "quant", "lab", "zen", "byte", "star",
         "mint", "atlas", "echo", "orbit", "spark", "delta", "north", "river", "stone", "sun", "wolf", "iron", "leaf"]
CONSUMER = ["gmail.com"] * 8 + ["outlook.com"] * 3 + ["yahoo.com"] * 2 + ["icloud.com", "hotmail.com", "proton.me",
                                                                           "qq.com", "163.com", "gmx.de", "yandex.ru", "naver.com"]
DISPOSABLE = ["mailinator.com", "guerrillamail.com", "10minutemail.com", "temp-mail.org", "yopmail.com",
              "sharklasers.com", "tempmail.dev", "dispostable.com", "trashmail.com", "maildrop.cc"]
CORP_A = ["bright", "north", "blue", "apex", "lumen", "vertex", "cedar", "harbor", "quantum", "summit", "pioneer", "orchid"]
CORP_B = ["labs", "works", "systems", "analytics", "health", "capital", "logistics", "media", "retail", "bank", "ai", "soft"]
TLDS = ["com", "io", "co", "de", "co.uk", "ai", "net", "fr", "in"]
EDU = ["state.edu", "tech.edu", "uni-koeln.de", "ox.ac.uk", "iit.ac.in", "usp.br", "snu.ac.kr", "k12.ca.us", "ucl.ac.uk"]
COUNTRY_WEIGHTS = {"US": 0.3, "IN": 0.09, "GB": 0.07, "DE": 0.06, "BR": 0.05, "FR": 0.04, "CA": 0.04, "JP": 0.04,
                   "KR": 0.03, "SG": 0.02, "AU": 0.03, "NL": 0.02, "PL": 0.02, "ES": 0.03, "MX": 0.03, "NG": 0.02,
                   "VN": 0.03, "CN": 0.03, "HK": 0.02, "RU": 0.03}

UA_BROWSER = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{c}.0.{v}.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.{m} Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:12{m}.0) Gecko/20100101 Firefox/12{m}.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_{m} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 14; Pixel {m}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{c}.0.{v}.0 Mobile Safari/537.36",
    "ChatApp/{m}.{v} (iOS 17.{m})", "ChatApp/{m}.{v} (Android 14)",
]
UA_SDK = ["openai-python/1.{v}.{m}", "anthropic-sdk-python/0.{v}.{m}", "google-genai/1.{m}.0", "langchain-core/0.3.{v}",
          "llama-index/0.{m}.{v}", "litellm/1.{v}.{m}", "openai-node/4.{v}.{m}", "ai-sdk/4.{m}.{v}", "Vercel AI SDK/{m}.{v}"]
UA_SCRIPT = ["python-requests/2.{v}.{m}", "python-httpx/0.2{m}.{v}", "aiohttp/3.{m}.{v}", "curl/8.{m}.{v}",
             "Go-http-client/1.1", "node-fetch/3.{m}.{v}", "axios/1.{m}.{v}", "okhttp/4.{m}.{v}"]
UA_PIPE = ["{w}-etl/{m}.{v} (python-httpx/0.27.{m})", "{w}-worker/{m}.{v}", "{w}bot/{m}.{v} (+https://{w}.example)",
           "airflow-provider-llm/{m}.{v}", "{w}-gateway/{m}.{v} openai-python/1.{v}.0"]


def _pick(rng: np.random.Generator, seq: list[str]) -> str:
    return seq[int(rng.integers(0, len(seq)))]


def choose_keys(rng: np.random.Generator, weights: dict[str, float], n: int) -> np.ndarray:
    """``n`` categorical draws from a ``{name: weight}`` mapping (sorted keys: deterministic)."""
    keys = sorted(weights)
    p = np.array([max(0.0, float(weights[k])) for k in keys])
    p = p / p.sum() if p.sum() > 0 else np.full(len(keys), 1 / len(keys))
    return np.array(keys, dtype=object)[rng.choice(len(keys), size=n, p=p)]


def random_token(rng: np.random.Generator, n: int, length: int, alphabet: str = "0123456789abcdefghijklmnopqrstuvwxyz") -> list[str]:
    """``n`` random strings (ids, key ids, fingerprints)."""
    a = np.array(list(alphabet))
    codes = rng.integers(0, len(a), (n, length))
    return ["".join(row) for row in a[codes].tolist()]


def corporate_domain(rng: np.random.Generator) -> str:
    return f"{_pick(rng, CORP_A)}{_pick(rng, ['', '-'])}{_pick(rng, CORP_B)}.{_pick(rng, TLDS)}"


def emails(rng: np.random.Generator, kinds: np.ndarray, *, org_domain: str | None = None,
           pattern: tuple[str, str] | None = None) -> list[str]:
    """Email addresses of the given kinds (consumer, corporate, edu, disposable, patterned).

    ``patterned`` uses ``pattern`` = (stem, domain) so all accounts of an actor (or an
    agency's client accounts) share a recognisable scheme: stem+N, stem.N, stemN.
    """
    out = []
    for i, k in enumerate(kinds.tolist()):
        f, last = _pick(rng, FIRST), _pick(rng, LAST)
        style = int(rng.integers(0, 6))
        num = int(rng.integers(1, 9999))
        local = [f"{f}.{last}", f"{f}{last}", f"{f[0]}{last}", f"{f}_{last}{num % 100}", f"{f}{num}",
                 f"{_pick(rng, WORDS)}{_pick(rng, WORDS)}{num % 1000}"][style]
        if k == "consumer":
            out.append(f"{local}@{_pick(rng, CONSUMER)}")
        elif k == "corporate":
            out.append(f"{f}.{last}@{org_domain or corporate_domain(rng)}")
        elif k == "edu":
            out.append(f"{f[0]}{last}{num % 100}@{_pick(rng, EDU)}")
        elif k == "disposable":
            tok = random_token(rng, 1, int(rng.integers(6, 11)))[0] if rng.random() < 0.5 else local
            out.append(f"{tok}@{_pick(rng, DISPOSABLE)}")
        else:  # patterned
            stem, dom = pattern or (f"{_pick(rng, WORDS)}{_pick(rng, WORDS)}", _pick(rng, CONSUMER))
            sep = stem[-1] if stem[-1] in "+._" else ""
            base = stem.rstrip("+._")
            out.append(f"{base}{sep}{int(rng.integers(1, 5000)) if sep else i + int(rng.integers(0, 3))}@{dom}")
    return out


def pattern_for(rng: np.random.Generator) -> tuple[str, str]:
    """A patterned-email scheme (stem, domain): plus-addressing, dotted or plain numbering."""
    stem = _pick(rng, WORDS) + _pick(rng, ["", _pick(rng, WORDS), _pick(rng, LAST)])
    dom = _pick(rng, CONSUMER + DISPOSABLE + [corporate_domain(rng)])
    return stem + _pick(rng, ["+", ".", "", "_"]), dom


def countries(rng: np.random.Generator, weights: dict[str, float] | None, n: int) -> np.ndarray:
    return choose_keys(rng, weights or COUNTRY_WEIGHTS, n) if n else np.array([], dtype=object)


def user_agents(rng: np.random.Generator, kind: str, n: int, word: str | None = None) -> list[str]:
    pool = {"browser": UA_BROWSER, "sdk": UA_SDK, "script": UA_SCRIPT, "pipeline": UA_PIPE,
            "rotating": UA_BROWSER + UA_SDK + UA_SCRIPT}[kind]
    return [_pick(rng, pool).format(v=int(rng.integers(0, 100)), m=int(rng.integers(1, 9)), c=int(rng.integers(112, 132)),
                                    w=word or _pick(rng, WORDS)) for _ in range(n)]


def fingerprints(rng: np.random.Generator, n: int) -> list[str]:
    return ["fp_" + t for t in random_token(rng, n, 16, "0123456789abcdef")]


COUNTRY_LIST = COUNTRIES
