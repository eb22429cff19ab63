"""Precision and recall of the matcher on fixtures/match_cases.csv, at the match threshold.

Run with ``-s`` to see the confusion figures, per-variant recall and every miss.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from feocscreen.match import (
    DEFAULT_MATCH_THRESHOLD,
    DEFAULT_REVIEW_THRESHOLD,
    WatchlistIndex,
    score_entry,
)
from feocscreen.names import normalise_name
from feocscreen.watchlist import WatchlistEntry

CASES = Path(__file__).resolve().parents[1] / "fixtures" / "match_cases.csv"


def _cases() -> list[dict[str, str]]:
    with CASES.open(encoding="utf-8") as handle:
        return list(csv.DictReader(line for line in handle if not line.startswith("#")))


def _score(case: dict[str, str]) -> tuple[float, str]:
    country = case["candidate_country"] or None
    listed = WatchlistEntry(
        entry_id=case["case_id"],
        list_id="EL",
        name=case["candidate"],
        country=country,
        countries=(country,) if country else (),
    )
    hit = score_entry(
        normalise_name(case["query"]),
        listed,
        [normalise_name(case["candidate"])],
        country=case["query_country"] or None,
    )
    return hit.score, hit.explanation


def test_labelled_cases_cover_every_variant_class_and_hard_negatives() -> None:
    cases = _cases()
    assert len(cases) >= 300
    positives = Counter(c["variant"].split("+")[0] for c in cases if c["expected"] == "1")
    for variant in (
        "han_pinyin",
        "case_punct",
        "abbreviation",
        "legal_form",
        "token_order",
        "pinyin_spacing",
        "place_dropped",
        "accents",
        "initialism",
        "romanisation",
    ):
        assert positives[variant] >= 1, variant
    negatives = Counter(c["variant"] for c in cases if c["expected"] == "0")
    assert negatives["hard_neg_same_place_industry"] >= 20
    assert negatives["hard_neg_generic_only_both"] >= 20


def test_precision_and_recall_at_the_match_threshold() -> None:
    tp = fp = fn = tn = 0
    review_of_positives = review_of_negatives = 0
    recall_by_variant: dict[str, list[int]] = {}
    misses = []
    for case in _cases():
        score, explanation = _score(case)
        predicted = score >= DEFAULT_MATCH_THRESHOLD
        expected = case["expected"] == "1"
        tp += predicted and expected
        fp += predicted and not expected
        fn += expected and not predicted
        tn += not expected and not predicted
        in_review = DEFAULT_REVIEW_THRESHOLD <= score < DEFAULT_MATCH_THRESHOLD
        review_of_positives += expected and in_review
        review_of_negatives += (not expected) and in_review
        if expected:
            recall_by_variant.setdefault(case["variant"], []).append(int(predicted))
        if predicted != expected:
            misses.append(
                f"  {'FP' if predicted else 'FN'} {score:5.1f} [{case['variant']}] "
                f"{case['query']!r} ~ {case['candidate']!r}: {explanation}"
            )
    precision = tp / (tp + fp)
    recall = tp / (tp + fn)
    print(
        f"\nmatch threshold {DEFAULT_MATCH_THRESHOLD:g}, review {DEFAULT_REVIEW_THRESHOLD:g}, "
        f"{tp + fp + fn + tn} pairs"
    )
    print(f"TP {tp}  FP {fp}  FN {fn}  TN {tn}  precision {precision:.3f}  recall {recall:.3f}")
    print(f"review band: {review_of_positives} positives, {review_of_negatives} negatives")
    for variant, hits in sorted(recall_by_variant.items()):
        print(f"  recall {variant:<28} {sum(hits)}/{len(hits)}")
    print("\n".join(misses))
    assert precision >= 0.98
    assert recall >= 0.95


def test_blocking_and_prefilter_keep_every_labelled_pair_the_scorer_would_report() -> None:
    """Candidate generation loses nothing: each pair at or above review is found by search."""
    cases = _cases()
    entries = [
        WatchlistEntry(entry_id=c["case_id"], list_id="EL", name=c["candidate"]) for c in cases
    ]
    index = WatchlistIndex(entries)
    lost = []
    for case, listed in zip(cases, entries, strict=True):
        direct = score_entry(normalise_name(case["query"]), listed, [normalise_name(listed.name)])
        if direct.score < DEFAULT_REVIEW_THRESHOLD:
            continue
        found = {h.entry.entry_id for h in index.search(case["query"])}
        if listed.entry_id not in found:
            lost.append((case["query"], case["candidate"], direct.score))
    assert lost == []
