"""In-memory segment evaluation: ours against a hand-written floor and two peer engines.

    .venv/bin/pip install -r benchmarks/requirements.txt
    .venv/bin/python benchmarks/evaluator.py [--users 10000] [--rounds 7]

One five-rule segment (plan equals pro AND country not_equals US AND email contains example
AND age greater_than 18 AND sessions less_than 100) over the same generated users, evaluated by:
  floor      a hand-written Python lambda chain with the segment's meaning: a missing or
             non-text trait fails, text compares case-insensitively (str.lower)
  bare       the least a lambda can do: t[key] and case-sensitive ==, no checks at all
             (right on this data only; shown so that the cost of the meaning is visible)
  callout    segments.codegen.CompiledSegment.matches (what Segment.matches runs)
  flagsmith  flagsmith-flag-engine's is_context_in_segment
  growthbook GrowthBook's evalCondition
All must agree on every user. Engines run interleaved, each round over every user; the
best round per engine is reported, so a noisy neighbour skews all of them alike.
"""

import argparse
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flag_engine.segments.evaluator import is_context_in_segment
from growthbook.core import evalCondition

from segments.codegen import CompiledSegment
from segments.evaluator import Condition

RULES = [
    ("plan", "string", "equals", "pro", "EQUAL", {"$eq": "pro"}),
    ("country", "string", "not_equals", "US", "NOT_EQUAL", {"$ne": "US"}),
    ("email", "string", "contains", "example", "CONTAINS", {"$regex": "example"}),
    ("age", "number", "greater_than", 18, "GREATER_THAN", {"$gt": 18}),
    ("sessions", "number", "less_than", 100, "LESS_THAN", {"$lt": 100}),
]


def generate_users(count: int, seed: int = 7) -> list[dict]:
    """Every user has every trait: the peers treat a missing trait differently from us (a
    negated rule matches a user without the trait here, as the docs say; not in Flagsmith)."""
    rng = random.Random(seed)
    domains = ["example.com", "acme.io", "example.org", "globex.net"]
    return [
        {
            "plan": rng.choice(["free", "pro", "enterprise"]),
            "country": rng.choice(["US", "DE", "FR", "GB", "IN", "BR"]),
            "email": f"user{n}@{rng.choice(domains)}",
            "age": rng.randint(12, 70),
            "sessions": rng.randint(0, 300),
        }
        for n in range(count)
    ]


def engines() -> dict:
    ours = CompiledSegment([Condition(t, ty, op, v) for t, ty, op, v, _, _ in RULES])
    flagsmith_segment = {
        "key": "bench",
        "name": "bench",
        "rules": [
            {
                "type": "ALL",
                "conditions": [
                    {"property": t, "operator": fop, "value": str(v)}
                    for t, _, _, v, fop, _ in RULES
                ],
            }
        ],
    }
    growthbook_condition = {t: cond for t, _, _, _, _, cond in RULES}

    def floor(t: dict) -> bool:
        return (
            (type(p := t.get("plan")) is str and p.lower() == "pro")
            and not (type(c := t.get("country")) is str and c.lower() == "us")
            and (type(e := t.get("email")) is str and "example" in e.lower())
            and (type(a := t.get("age")) is int and a > 18)
            and (type(s := t.get("sessions")) is int and s < 100)
        )

    def bare(t: dict) -> bool:
        return (
            t["plan"] == "pro"
            and t["country"] != "US"
            and "example" in t["email"]
            and t["age"] > 18
            and t["sessions"] < 100
        )

    return {
        "floor": floor,
        "bare": bare,
        "callout": ours.matches,
        "flagsmith": lambda t: is_context_in_segment(
            {
                "environment": {"key": "e", "name": "e"},
                "identity": {"identifier": "u", "key": "u", "traits": t},
            },
            flagsmith_segment,
        ),
        "growthbook": lambda t: evalCondition(t, growthbook_condition),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    users = generate_users(args.users)
    runners = engines()

    verdicts = {name: [run(u) for u in users] for name, run in runners.items()}
    reference = verdicts["floor"]
    for name, results in verdicts.items():
        disagree = sum(a != b for a, b in zip(results, reference, strict=True))
        if disagree:
            sys.exit(f"{name} disagrees with the floor on {disagree} users")
    matched = sum(reference)

    best = dict.fromkeys(runners, float("inf"))
    for _ in range(args.rounds):
        for name, run in runners.items():
            start = time.perf_counter_ns()
            for user in users:
                run(user)
            best[name] = min(best[name], (time.perf_counter_ns() - start) / len(users) / 1000)

    print(f"{len(users):,} users, {matched:,} match; all engines agree on every user")
    print(f"python {sys.version.split()[0]}, best of {args.rounds} rounds, pid {os.getpid()}")
    print(f"{'engine':<11} {'us/eval':>8} {'x floor':>8} {'x bare':>8} {'x callout':>10}")
    for name, micros in best.items():
        print(
            f"{name:<11} {micros:>8.3f} {micros / best['floor']:>8.2f} "
            f"{micros / best['bare']:>8.2f} {micros / best['callout']:>10.2f}"
        )


if __name__ == "__main__":
    main()
