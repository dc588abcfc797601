#!/usr/bin/env python3
"""Trims a zoo-reference/1 JSON (../shared/reference/*.json) to what tests/model needs.

The originals are 3-4 MB each, almost all of it `last_prompt_logits` (a full n_vocab row
per prompt). The trimmed copy keeps every field the tests read and replaces that row by
its top-200 (id, logit) pairs, `last_prompt_top200`, sorted by logit desc then id asc
(the same order as `top10`). Everything else the tests use is copied verbatim, so a
trimmed file is still valid zoo-reference/1 minus the dropped fields.

usage: trim_reference.py SRC.json [SRC.json ...] -o OUT_DIR
"""
import argparse
import json
import os

# Fields of a prompt the tests read; the *_hex / pieces fields are kept where cheap
# because they make a failure message exact for byte-level tokens.
PROMPT_KEYS = [
    "id", "text", "parse_special", "add_special", "prompt_ids", "prompt_pieces_hex",
    "greedy_ids", "greedy_text", "greedy_text_hex", "greedy_pieces_hex", "greedy_step_gap",
    "top10", "checks",
]
VARIANT_KEYS = [
    "settings", "error", "greedy_ids", "greedy_text", "first_divergence_from_baseline",
    "last_prompt_top10", "last_prompt_logits_max_abs_diff", "last_prompt_logits_rms_diff",
    "top10", "checks",  # top10/checks exist for f32_dequant only
]
TOP_LEVEL_DROP = {"prompts"}
N_TOP = 200


def top_pairs(row, n):
    order = sorted(range(len(row)), key=lambda i: (-row[i], i))[:n]
    return [[i, row[i]] for i in order]


def trim(ref):
    out = {k: v for k, v in ref.items() if k not in TOP_LEVEL_DROP}
    out["trimmed"] = ("by tests/data/reference/trim_reference.py: last_prompt_logits -> "
                      f"last_prompt_top{N_TOP}; prompt_pieces dropped")
    out["prompts"] = []
    for p in ref["prompts"]:
        q = {k: p[k] for k in PROMPT_KEYS if k in p}
        q[f"last_prompt_top{N_TOP}"] = top_pairs(p["last_prompt_logits"], N_TOP)
        q["variants"] = {name: {k: v[k] for k in VARIANT_KEYS if k in v}
                         for name, v in p.get("variants", {}).items()}
        out["prompts"].append(q)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", nargs="+")
    ap.add_argument("-o", "--out-dir", required=True)
    args = ap.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    for src in args.src:
        with open(src, encoding="utf-8") as f:
            ref = json.load(f)
        dst = os.path.join(args.out_dir, os.path.basename(src))
        with open(dst, "w", encoding="utf-8") as f:
            json.dump(trim(ref), f, ensure_ascii=False, separators=(",", ":"))
            f.write("\n")
        print(f"{src} ({os.path.getsize(src)} B) -> {dst} ({os.path.getsize(dst)} B)")


if __name__ == "__main__":
    main()
