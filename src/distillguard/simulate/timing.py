"""When requests happen: sessions placed on a daily rhythm, requests spaced inside them.

Every persona and campaign uses the same clustered point process, with different
parameters: sessions start at times drawn from an hour-of-day profile in the account's
local timezone (people sleep; pipelines do not), weekends are thinned by a weight, and
requests within a session are separated by log-normal gaps (never a fixed period). A
script firing every 3 s and a person reading an answer for a minute are both special
cases, so no constant inter-arrival time exists to be detected.
"""

from __future__ import annotations

import numpy as np

DAY = 86400.0

# Relative request intensity per local hour 0..23.
PROFILES: dict[str, np.ndarray] = {
    "human": np.array([3, 2, 1, 1, 1, 1, 2, 4, 6, 7, 8, 8, 8, 8, 8, 8, 8, 8, 9, 10, 11, 11, 9, 6], float),
    "evening": np.array([4, 2, 1, 1, 1, 1, 1, 2, 3, 3, 3, 3, 4, 4, 5, 6, 7, 8, 10, 12, 13, 12, 10, 7], float),
    "work": np.array([1, 0.5, 0.5, 0.5, 0.5, 0.5, 1, 3, 8, 11, 12, 12, 9, 11, 12, 12, 11, 9, 5, 3, 2, 2, 1.5, 1], float),
    "school": np.array([0, 0, 0, 0, 0, 0, 0, 1, 8, 12, 12, 12, 8, 12, 12, 8, 3, 1, 0.5, 0.5, 0.3, 0.2, 0, 0], float),
    "flat": np.ones(24),
}


def profile_probs(name: str) -> np.ndarray:
    if name not in PROFILES:
        raise KeyError(f"unknown time profile {name!r} (have {sorted(PROFILES)})")
    p = PROFILES[name]
    return p / p.sum()


def session_starts(
    rng: np.random.Generator,
    acct: np.ndarray,
    win_start: np.ndarray,
    win_end: np.ndarray,
    tz_hours: np.ndarray,
    profile: str,
    weekend: float,
    start_weekday: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Start time (seconds since world start) of each session; returns (keep mask, starts).

    ``acct`` maps each session to its account; windows and timezones are per account.
    Sessions that cannot be placed inside the window (after a few retries) are dropped.
    """
    n = len(acct)
    ws, we, tz = win_start[acct], win_end[acct], tz_hours[acct] * 3600.0
    probs = profile_probs(profile)
    starts = np.zeros(n)
    ok = np.zeros(n, bool)
    todo = np.arange(n)
    for _ in range(8):
        if len(todo) == 0:
            break
        t = rng.uniform(ws[todo], we[todo])
        local = t + tz[todo]
        day = np.floor(local / DAY)
        hour = rng.choice(24, size=len(todo), p=probs)
        cand = day * DAY + hour * 3600.0 + rng.uniform(0, 3600.0, len(todo)) - tz[todo]
        weekday = (day.astype(np.int64) + start_weekday) % 7
        keep = rng.random(len(todo)) < np.where(weekday >= 5, weekend, 1.0)
        inside = (cand >= ws[todo]) & (cand < we[todo])
        good = keep & inside
        starts[todo[good]] = cand[good]
        ok[todo[good]] = True
        todo = todo[~good]
    return ok, starts


def within_session_offsets(rng: np.random.Generator, sizes: np.ndarray, gap_median_s: float, gap_sigma: float) -> np.ndarray:
    """Offsets (s) of each request from its session start: cumulative log-normal gaps."""
    total = int(sizes.sum())
    gaps = rng.lognormal(np.log(max(gap_median_s, 1e-3)), max(gap_sigma, 1e-3), total)
    first = np.zeros(total, bool)
    idx0 = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    first[idx0[sizes > 0]] = True
    gaps[first] = 0.0
    cs = np.cumsum(gaps)
    base = np.repeat(cs[idx0], sizes)
    return cs - base
