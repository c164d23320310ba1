#!/usr/bin/env python3
"""Generates the harmony conformance fixtures under tests/fixtures/harmony/ with the
reference, openai-harmony 0.0.8 (pip install openai-harmony==0.0.8), offline.

    .venv/bin/python tests/scripts/harmony/gen_vectors.py [--random N] [--seed S] [--only NAME...]

Writes:
  render_cases.json     hand-written conversations (cases.py) rendered five ways
  render_random.jsonl   random conversations (harmony_ref.rand_conversation), same
  json_cases.json       raw JSON inputs: accepted or rejected by the reference
  parse_vectors.jsonl   completions as token pieces, parsed by the reference
                        (role=assistant and role=None) with the terminators seen
  malformed.json        the malformed corpus (cases.py) plus the reference's outcome

`cargo test -p ossa-prompts` checks ossa against all of them.
"""
from __future__ import annotations

import argparse
import json
import random

import cases
from harmony_ref import FIXTURES, Reference, builtin_namespaces, rand_completion_messages, rand_conversation

def render_all(ref: Reference, convo_json: str, next_role: str) -> dict:
    """The reference's renders, stored compactly: `null` means "same as its base"
    (render for render_keep_analysis and training, render_keep_analysis for
    training_keep_analysis, render + "<|start|>" + role for the completion)."""
    render, err = ref.render("render", convo_json, False)
    keep, _ = ref.render("render", convo_json, True)
    training, _ = ref.render("training", convo_json, False)
    training_keep, _ = ref.render("training", convo_json, True)
    completion, _ = ref.render("completion", convo_json, False, next_role)
    if err is not None:
        assert keep is None and training is None and completion is None, convo_json
        return {"error": err}

    def rel(text: str, base: str):
        return None if text == base else text

    return {
        "render": render,
        "render_keep_analysis": rel(keep, render),
        "training": rel(training, render),
        "training_keep_analysis": rel(training_keep, keep),
        "completion_role": next_role,
        "completion": rel(completion, render + "<|start|>" + next_role),
    }


def resolve_builtins(obj, builtin):
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if k == "tools" and v == "BROWSER":
                out[k] = {"browser": builtin["browser"]}
            elif k == "tools" and v == "BROWSER_PYTHON":
                out[k] = {"browser": builtin["browser"], "python": builtin["python"]}
            else:
                out[k] = resolve_builtins(v, builtin)
        return out
    if isinstance(obj, list):
        return [resolve_builtins(v, builtin) for v in obj]
    return obj


def gen_render_cases(ref: Reference, builtin) -> None:
    vectors = []
    for i, (name, convo) in enumerate(cases.RENDER_CASES):
        convo = resolve_builtins(convo, builtin)
        convo_json = json.dumps(convo, ensure_ascii=False)
        expected = render_all(ref, convo_json, "assistant" if i % 2 else "user")
        if "error" not in expected:
            # Token ids too: ossa's text pieces, tokenized one by one, must give these.
            expected["render_tokens"] = " ".join(map(str, ref.inner.render_conversation(
                conversation_json=convo_json, config={"auto_drop_analysis": True}
            )))
        vectors.append({"name": name, "conversation": convo, "expected": expected})
    path = FIXTURES / "render_cases.json"
    path.write_text(json.dumps(vectors, indent=1, ensure_ascii=False) + "\n")
    print(f"{path}: {len(vectors)} cases")


def gen_render_random(ref: Reference, builtin, count: int, seed: int) -> None:
    rng = random.Random(seed)
    lines = []
    errors = 0
    for i in range(count):
        convo = rand_conversation(rng, builtin)
        convo_json = json.dumps(convo, ensure_ascii=False)
        role = rng.choice(["user", "assistant", "system", "developer", "tool"])
        expected = render_all(ref, convo_json, role)
        errors += "error" in expected
        lines.append(json.dumps({"name": f"random_{seed}_{i}", "conversation": convo, "expected": expected}, ensure_ascii=False))
    path = FIXTURES / "render_random.jsonl"
    path.write_text("\n".join(lines) + "\n")
    print(f"{path}: {count} conversations ({errors} rejected by the reference)")


def gen_json_cases(ref: Reference) -> None:
    vectors = []
    for name, raw in cases.JSON_CASES:
        text, err = ref.render("render", raw, False)
        vectors.append({"name": name, "json": raw, "accepted": err is None, "reference": text if err is None else err})
    path = FIXTURES / "json_cases.json"
    path.write_text(json.dumps(vectors, indent=1, ensure_ascii=False) + "\n")
    print(f"{path}: {len(vectors)} cases")


STOP = {200002: "return", 200007: "end", 200012: "call"}


def completion_vector(ref: Reference, rng: random.Random, name: str, messages: list[dict]) -> dict:
    tokens: list[int] = []
    terminators = []
    for m in messages:
        toks = ref.render_message_tokens(m)
        tokens.extend(toks)
        terminators.append(STOP[toks[-1]])
    ending = rng.choice(["keep", "keep", "eos", "return"])
    if ending == "eos":
        tokens.pop()
        terminators[-1] = "end_of_stream"
    elif ending == "return" and tokens[-1] == 200007 and messages[-1].get("channel") == "final":
        tokens[-1] = 200002
        terminators[-1] = "return"
    vec = {"name": name, "messages": messages, "terminators": terminators, "runs": []}
    runs = [("none", tokens)]
    if messages[0]["role"] == "assistant" and "name" not in messages[0]:
        assert tokens[0] == 200006 and ref.text(tokens[1:2]) == "assistant", name
        runs.append(("assistant", tokens[2:]))
    for role, toks in runs:
        parsed, err = ref.parse(toks, None if role == "none" else role, strict=True)
        vec["runs"].append(
            {
                "role": role,
                "pieces": ref.token_pieces(toks),
                "reference": parsed if err is None else {"error": err},
            }
        )
    return vec


def gen_parse_vectors(ref: Reference, count: int, seed: int) -> None:
    rng = random.Random(seed + 1)
    lines = []
    for i in range(count):
        msgs = rand_completion_messages(rng, first_role_assistant=rng.random() < 0.8)
        lines.append(json.dumps(completion_vector(ref, rng, f"completion_{seed}_{i}", msgs), ensure_ascii=False))
    path = FIXTURES / "parse_vectors.jsonl"
    path.write_text("\n".join(lines) + "\n")
    print(f"{path}: {count} completions")


def gen_malformed(ref: Reference) -> None:
    out = []
    for case in cases.MALFORMED_CASES:
        tokens = ref.enc.encode(case["text"], allowed_special="all")
        reference = {}
        for strict in (True, False):
            parsed, err = ref.parse(tokens, case["role"], strict=strict)
            reference["strict" if strict else "non_strict"] = parsed if err is None else {"error": err}
        out.append({**case, "reference": reference})
    path = FIXTURES / "malformed.json"
    path.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
    print(f"{path}: {len(out)} cases")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--random", type=int, default=300, help="random conversations (default 300)")
    ap.add_argument("--completions", type=int, default=200, help="random completions (default 200)")
    ap.add_argument("--seed", type=int, default=20250805)
    ap.add_argument(
        "--only",
        nargs="+",
        choices=list(GENERATORS),
        help="regenerate only these fixtures (e.g. --only malformed after editing MALFORMED_CASES)",
    )
    args = ap.parse_args()
    FIXTURES.mkdir(parents=True, exist_ok=True)
    ref = Reference()
    builtin = builtin_namespaces()
    for name in args.only or GENERATORS:
        GENERATORS[name](ref, builtin, args)


# Each fixture's generator, by the name --only takes.
GENERATORS = {
    "render_cases": lambda ref, builtin, args: gen_render_cases(ref, builtin),
    "render_random": lambda ref, builtin, args: gen_render_random(ref, builtin, args.random, args.seed),
    "json_cases": lambda ref, builtin, args: gen_json_cases(ref),
    "parse_vectors": lambda ref, builtin, args: gen_parse_vectors(ref, args.completions, args.seed),
    "malformed": lambda ref, builtin, args: gen_malformed(ref),
}


if __name__ == "__main__":
    main()
