#!/usr/bin/env python3
"""Live differential check: `ossa render` / `ossa parse` against openai-harmony 0.0.8 on
fresh random inputs (conversations, mutated JSON, completions).

    .venv/bin/python tests/scripts/harmony/differential.py --ossa target/debug/ossa \
        [--count 300] [--seed N] [--jobs 4]

Exits non-zero on the first batch with mismatches and prints each one (the input is
saved under target/harmony-diff/ to replay). Needs openai-harmony==0.0.8 and the vocab
(see harmony_ref.ensure_vocab).
"""
from __future__ import annotations

import argparse
import concurrent.futures as futures
import copy
import json
import pathlib
import random
import subprocess
import sys
import time

from harmony_ref import ROOT, Reference, builtin_namespaces, rand_completion_messages, rand_conversation

MODES = [
    # (name, ossa flags, reference kind, keep_analysis)
    ("render", [], "render", False),
    ("render --keep-analysis", ["--keep-analysis"], "render", True),
    ("training", ["--training"], "training", False),
    ("training --keep-analysis", ["--training", "--keep-analysis"], "training", True),
]
ROLES = ["user", "assistant", "system", "developer", "tool"]


def run_ossa(ossa: str, args: list[str], stdin: str) -> tuple[int, str, str]:
    p = subprocess.run([ossa, *args], input=stdin.encode(), capture_output=True, timeout=60)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def check_render(ref: Reference, ossa: str, convo_json: str, next_role: str) -> list[str]:
    problems = []
    modes = MODES + [(f"completion {next_role}", ["--next-role", next_role], "completion", False)]
    for name, flags, kind, keep in modes:
        want, err = ref.render(kind, convo_json, keep, next_role if kind == "completion" else None)
        rc, out, stderr = run_ossa(ossa, ["render", *flags, "-"], convo_json)
        if err is not None:
            if rc == 0:
                problems.append(f"{name}: reference rejects ({err}), ossa rendered")
            elif "panicked" in stderr:
                problems.append(f"{name}: ossa panicked: {stderr}")
        elif rc != 0:
            problems.append(f"{name}: reference renders, ossa failed: {stderr.strip()}")
        elif out != want:
            problems.append(f"{name}: output differs {first_difference(want, out)}")
    return problems


def first_difference(want: str, got: str) -> str:
    i = next((i for i, (a, b) in enumerate(zip(want, got)) if a != b), min(len(want), len(got)))
    lo = max(0, i - 60)
    return f"at char {i}:\n    reference: {want[lo:i + 60]!r}\n    ossa:      {got[lo:i + 60]!r}"


def mutate(rng: random.Random, value):
    """One random structural change somewhere in a JSON value."""
    paths = []

    def walk(v, path):
        paths.append(path)
        if isinstance(v, dict):
            for k, x in v.items():
                walk(x, path + [k])
        elif isinstance(v, list):
            for i, x in enumerate(v):
                walk(x, path + [i])

    walk(value, [])
    path = rng.choice(paths)
    value = copy.deepcopy(value)
    if not path:
        return rng.choice([[], {}, None, [value]])
    parent = value
    for step in path[:-1]:
        parent = parent[step]
    key = path[-1]
    op = rng.choice(["delete", "null", "number", "string", "list", "object", "rename", "bool"])
    if op == "delete":
        del parent[key]
    elif op == "rename" and isinstance(parent, dict):
        parent[str(key) + "_x"] = parent.pop(key)
    else:
        parent[key] = {"null": None, "number": 1, "string": "s", "list": [], "object": {}, "bool": True}.get(op, None)
    return value


COUNTS = {"parse compared": 0, "parse skipped (reference fails)": 0}


def check_parse(ref: Reference, ossa: str, rng: random.Random) -> list[str]:
    msgs = rand_completion_messages(rng, first_role_assistant=rng.random() < 0.8)
    tokens: list[int] = []
    terminators = []
    for m in msgs:
        toks = ref.render_message_tokens(m)
        tokens += toks
        terminators.append({200002: "return", 200007: "end", 200012: "call"}[toks[-1]])
    if rng.random() < 0.3:
        tokens.pop()
        terminators[-1] = "end_of_stream"
    runs = [("none", tokens)]
    if msgs[0]["role"] == "assistant" and "name" not in msgs[0]:
        runs.append(("assistant", tokens[2:]))
    problems = []
    for role, toks in runs:
        text = ref.text(toks)
        if "<|" in json.dumps([m["content"] for m in msgs]) or any(
            "<|" in m.get("content_type", "")[13:] for m in msgs
        ):
            continue  # literal special strings in content are ambiguous in text form
        want, err = ref.parse(toks, None if role == "none" else role)
        rc, out, stderr = run_ossa(ossa, ["parse", "--role", role, "-"], text)
        if "panicked" in stderr:
            problems.append(f"parse --role {role}: panic: {stderr}\ninput: {text!r}")
            continue
        if err is not None:
            COUNTS["parse skipped (reference fails)"] += 1
            continue  # the reference fails: ossa may recover; no panic is all we ask
        COUNTS["parse compared"] += 1
        if rc != 0:
            problems.append(f"parse --role {role}: ossa failed: {stderr.strip()}\ninput: {text!r}")
            continue
        ours = json.loads(out)
        got_terms = [m.pop("terminator") for m in ours]
        for m in want:  # the documented fix: a lone <|constrain|>X is the content type
            r = m.get("recipient")
            if r and r.startswith("<|constrain|>") and "content_type" not in m:
                m["content_type"] = m.pop("recipient")
        if ours != want or got_terms != terminators:
            problems.append(
                f"parse --role {role}: differs\ninput: {text!r}\n--- reference\n{want}\n{terminators}\n--- ossa\n{ours}\n{got_terms}"
            )
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ossa", default=str(ROOT / "target" / "debug" / "ossa"))
    ap.add_argument("--count", type=int, default=300, help="random conversations and completions")
    ap.add_argument("--seed", type=int, default=None, help="default: time-based (printed)")
    ap.add_argument("--jobs", type=int, default=4)
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else int(time.time())
    print(f"differential: seed {seed}, {args.count} of each, ossa = {args.ossa}", flush=True)
    ref = Reference()
    builtin = builtin_namespaces()
    rng = random.Random(seed)
    jobs = []
    for i in range(args.count):
        convo = rand_conversation(rng, builtin)
        if rng.random() < 0.25:
            convo = mutate(rng, convo)
        jobs.append((f"conversation {i}", json.dumps(convo, ensure_ascii=False), rng.choice(ROLES)))
    failures = 0
    out_dir = ROOT / "target" / "harmony-diff"
    started = time.time()
    with futures.ThreadPoolExecutor(args.jobs) as pool:
        results = pool.map(lambda j: (j, check_render(ref, args.ossa, j[1], j[2])), jobs)
        for (name, convo_json, _), problems in results:
            if problems:
                failures += 1
                out_dir.mkdir(parents=True, exist_ok=True)
                path = out_dir / f"{seed}-{name.replace(' ', '-')}.json"
                path.write_text(convo_json)
                print(f"MISMATCH {name} (saved to {path}):")
                for p in problems:
                    print("  " + p.replace("\n", "\n  "))
        parse_rngs = [random.Random(seed * 1000 + i) for i in range(args.count)]
        for i, problems in enumerate(pool.map(lambda r: check_parse(ref, args.ossa, r), parse_rngs)):
            if problems:
                failures += 1
                print(f"MISMATCH completion {i}:")
                for p in problems:
                    print("  " + p.replace("\n", "\n  "))
    elapsed = time.time() - started
    print(f"differential: {failures} mismatches in {2 * args.count} inputs ({elapsed:.1f}s); {COUNTS}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
