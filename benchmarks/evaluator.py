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

Then a tree (segments/tree.py), three levels below the top, ten rules, one reference:

    all of
      any of
        all of: plan equals pro, age greater_than 18
        all of: plan equals enterprise, any of: country in [DE, FR], sessions greater_than 200
      none of: country equals US, email ends_with .org
      in segment "Engaged" (all of: sessions at least 10, email contains example)
      age less_than 65

measured the same way: ours is segments.codegen.compile_tree; the floor is the same tree
hand-written with the same meaning; Flagsmith (nested ALL / ANY / NONE rules) and GrowthBook
($and / $or / $nor) express it with the referenced segment's rules inlined (neither has
segments inside segments).
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

from segments.codegen import CompiledSegment, compile_tree
from segments.evaluator import Condition
from segments.tree import Group, Ref

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


def _rule(trait: str, type_: str, op: str, value) -> Condition:
    return Condition(trait, type_, op, value)


ENGAGED = Group(
    "all",
    (
        _rule("sessions", "number", "greater_than_or_equal", 10),
        _rule("email", "string", "contains", "example"),
    ),
)
TREE = Group(
    "all",
    (
        Group(
            "any",
            (
                Group(
                    "all",
                    (
                        _rule("plan", "string", "equals", "pro"),
                        _rule("age", "number", "greater_than", 18),
                    ),
                ),
                Group(
                    "all",
                    (
                        _rule("plan", "string", "equals", "enterprise"),
                        Group(
                            "any",
                            (
                                _rule("country", "string", "in", ["DE", "FR"]),
                                _rule("sessions", "number", "greater_than", 200),
                            ),
                        ),
                    ),
                ),
            ),
        ),
        Group(
            "none",
            (
                _rule("country", "string", "equals", "US"),
                _rule("email", "string", "ends_with", ".org"),
            ),
        ),
        Ref(1),
        _rule("age", "number", "less_than", 65),
    ),
)


def tree_engines() -> dict:
    de_fr = frozenset({"de", "fr"})

    def floor(t: dict) -> bool:
        return (
            (
                (
                    (type(p := t.get("plan")) is str and p.lower() == "pro")
                    and (type(a := t.get("age")) is int and a > 18)
                )
                or (
                    (type(p := t.get("plan")) is str and p.lower() == "enterprise")
                    and (
                        (type(c := t.get("country")) is str and c.lower() in de_fr)
                        or (type(s := t.get("sessions")) is int and s > 200)
                    )
                )
            )
            and not (
                (type(c := t.get("country")) is str and c.lower() == "us")
                or (type(e := t.get("email")) is str and e.lower().endswith(".org"))
            )
            and (type(s := t.get("sessions")) is int and s >= 10)
            and (type(e := t.get("email")) is str and "example" in e.lower())
            and (type(a := t.get("age")) is int and a < 65)
        )

    def fs(prop: str, op: str, value) -> dict:
        return {"property": prop, "operator": op, "value": str(value)}

    flagsmith_segment = {
        "key": "tree",
        "name": "tree",
        "rules": [
            {
                "type": "ALL",
                "conditions": [fs("age", "LESS_THAN", 65)],
                "rules": [
                    {
                        "type": "ANY",
                        "conditions": [],
                        "rules": [
                            {
                                "type": "ALL",
                                "conditions": [
                                    fs("plan", "EQUAL", "pro"),
                                    fs("age", "GREATER_THAN", 18),
                                ],
                            },
                            {
                                "type": "ALL",
                                "conditions": [fs("plan", "EQUAL", "enterprise")],
                                "rules": [
                                    {
                                        "type": "ANY",
                                        "conditions": [
                                            fs("country", "IN", "DE,FR"),
                                            fs("sessions", "GREATER_THAN", 200),
                                        ],
                                    }
                                ],
                            },
                        ],
                    },
                    {
                        "type": "NONE",
                        "conditions": [
                            fs("country", "EQUAL", "US"),
                            fs("email", "REGEX", r".*\.org$"),
                        ],
                    },
                    {
                        "type": "ALL",
                        "conditions": [
                            fs("sessions", "GREATER_THAN_INCLUSIVE", 10),
                            fs("email", "CONTAINS", "example"),
                        ],
                    },
                ],
            }
        ],
    }
    growthbook_condition = {
        "$and": [
            {
                "$or": [
                    {"plan": "pro", "age": {"$gt": 18}},
                    {
                        "plan": "enterprise",
                        "$or": [{"country": {"$in": ["DE", "FR"]}}, {"sessions": {"$gt": 200}}],
                    },
                ]
            },
            {"$nor": [{"country": "US"}, {"email": {"$regex": r"\.org$"}}]},
            {"sessions": {"$gte": 10}, "email": {"$regex": "example"}},
            {"age": {"$lt": 65}},
        ]
    }
    return {
        "floor": floor,
        "callout": compile_tree(TREE, {1: ENGAGED}),
        "flagsmith": lambda t: is_context_in_segment(
            {
                "environment": {"key": "e", "name": "e"},
                "identity": {"identifier": "u", "key": "u", "traits": t},
            },
            flagsmith_segment,
        ),
        "growthbook": lambda t: evalCondition(t, growthbook_condition),
    }


def measure(title: str, runners: dict, users: list[dict], rounds: int) -> None:
    verdicts = {name: [run(u) for u in users] for name, run in runners.items()}
    reference = verdicts["floor"]
    for name, results in verdicts.items():
        disagree = sum(a != b for a, b in zip(results, reference, strict=True))
        if disagree:
            sys.exit(f"{title}: {name} disagrees with the floor on {disagree} users")
    matched = sum(reference)

    best = dict.fromkeys(runners, float("inf"))
    for _ in range(rounds):
        for name, run in runners.items():
            start = time.perf_counter_ns()
            for user in users:
                run(user)
            best[name] = min(best[name], (time.perf_counter_ns() - start) / len(users) / 1000)

    print(f"{title}: {len(users):,} users, {matched:,} match; all engines agree on every user")
    bare = "bare" in best
    versus = "x bare" if bare else ""
    print(f"{'engine':<11} {'us/eval':>8} {'x floor':>8} {versus:>8} {'x callout':>10}")
    for name, micros in best.items():
        versus_bare = f"{micros / best['bare']:>8.2f}" if bare else " " * 8
        print(
            f"{name:<11} {micros:>8.3f} {micros / best['floor']:>8.2f} "
            f"{versus_bare} {micros / best['callout']:>10.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    users = generate_users(args.users)
    print(f"python {sys.version.split()[0]}, best of {args.rounds} rounds, pid {os.getpid()}")
    measure("five rules", engines(), users, args.rounds)
    print()
    measure("tree", tree_engines(), users, args.rounds)


if __name__ == "__main__":
    main()
