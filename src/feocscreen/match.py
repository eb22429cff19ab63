"""Screen supplier, parent, owner and operator names against watchlists, explaining each hit.

How a pair is scored (0–100), and why:

* Both names go through ``names.normalise_name``; tokens are *distinct* (trade names),
  *place* (provinces, cities) or *generic* (china, rare earth, magnetic, group…).
* Tokens align one-to-one across the two names, order ignored, by rapidfuzz
  similarity; adjacent tokens merge when one side writes as one word what the other
  splits (Gan Zhou / Ganzhou, Jin Li / Jinli). The score is a weighted Dice overlap:
  a trade name weighs ``WEIGHTS[distinct]``, a city a third of that, a generic word
  far less — so "Ganzhou Example Magnet" and "Ganzhou Other Magnet" share a city and a
  generic word, and stay far apart.
* When both names have trade-name tokens and none of them agree, the score is capped
  at ``GENERIC_ONLY_CAP`` ("only legal form, place and generic words shared"): the
  case nomenklatura#193 asks to be named (A-B-C Company matching anything).
* Qualifiers, as nomenklatura's logic-v2 does: a country that differs lowers the score;
  identifiers (LEI, USCC) decide outright when both sides carry one of the same kind.

Never all pairs: candidates come from an inverted index on trade-name tokens, their
one-letter deletions (typos), their phonetic keys narrowed by place (romanisations),
joined neighbours and a compact prefix (split pinyin); generic-only names have keys of
their own. Blocked names are ranked by the rarity of the keys they share (boosted in the
query's city) and the best ``MAX_BLOCKED`` go on, so the work per query stays flat as
lists grow. One vectorised rapidfuzz ``cdist`` then bounds each one's score from above,
and only names that can reach the review threshold are scored and explained.
benchmarks/match_bench.py measures the speed-up over exhaustive cdist and the recall
kept; tests/test_match_quality.py checks no labelled pair at or above review is lost.

``screen_portfolio`` screens every name a Portfolio carries and applies an analyst's
decisions file, so closed false positives stop reappearing and confirmed ones are
recorded.
"""

from __future__ import annotations

import csv
import hashlib
import io
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from rapidfuzz import fuzz, process

from .errors import RulesError, WaiverError, make_issue, register
from .models import Issue
from .names import (
    DISTINCT,
    GENERIC_KIND,
    PLACE,
    NormalisedName,
    clean_identifier,
    identifier_kind,
    normalise_name,
    phonetic_key,
    token_kind,
)
from .portfolio import Portfolio
from .watchlist import WatchlistEntry, WatchlistSet

register("bad-decision", "Bad decision", "A row of the decisions file is malformed.")

# Defaults when a ruleset does not set them (the ruleset's values win).
DEFAULT_MATCH_THRESHOLD = 90.0  # below this, a differing city or one extra trade word passes
DEFAULT_REVIEW_THRESHOLD = 75.0  # below this, reviewers saw mostly shared city + generic words

# Weight of an agreeing token by kind: a trade name identifies, a city narrows, a generic
# word barely tells (tuned on fixtures/match_cases.csv; see tests/test_match_quality.py).
WEIGHTS: dict[str, float] = {DISTINCT: 1.0, PLACE: 0.35, GENERIC_KIND: 0.15}
# A place named on one side only (short names drop the city) counts at this fraction.
ONE_SIDED_PLACE = 0.3
TOKEN_AGREE = 75.0  # rapidfuzz ratio from which two tokens are spelling variants
MAX_VARIANT = 0.9  # a spelling variant never agrees as fully as the same word
SAME_SOUND = 0.75  # tokens with one phonetic key: romanisation variants or a typo
SOUND_MIN_RATIO = 60.0  # below this, a shared consonant skeleton is chance (Bicang / Bocen)
GENERIC_ONLY_CAP = 50.0  # trade names all differ: never reaches review
GENERIC_CONFLICT_PENALTY = 8.0  # both sides carry business words the other lacks
COUNTRY_PENALTY = 10.0  # nomenklatura logic-v2 subtracts 0.2 of 1; we are gentler, lists
# often carry only one address country of several
IDENTIFIER_PENALTY = 30.0  # both sides give an LEI/USCC of one kind and they differ
COMPACT_PREFIX = 8  # trade words run together: the head that splits rarely change
MIN_DELETION_LENGTH = 4  # shorter trade words have too many one-letter neighbours to key on
SAME_PLACE_BOOST = 10.0  # blocking support of a name in the query's city
MAX_BLOCKED = 100  # names per query handed to the score bound, best-supported first
MAX_POSTINGS = 400  # a key shared by more names than this is too weak to block on
_KIND_CODE = {DISTINCT: 0, PLACE: 1, GENERIC_KIND: 2}
_WEIGHT_BY_CODE = np.array([WEIGHTS[DISTINCT], WEIGHTS[PLACE], WEIGHTS[GENERIC_KIND]])
# China, Hong Kong and Macau are one jurisdiction for the lists' country fields.
_CHINA = frozenset({"CN", "HK", "MO"})


@dataclass(frozen=True)
class NameComparison:
    """Score of two normalised names and the features behind it."""

    score: float
    agreed: dict[str, list[str]]  # kind -> "token" or "a~b" pairs that agree
    only_query: list[str]
    only_candidate: list[str]
    capped: bool
    generic_conflict: bool = False


def _token_similarity(a: str, b: str) -> float:
    """1 for equal tokens, falling to 0 at TOKEN_AGREE: a typo costs, a different word kills.

    Tokens that sound alike (same phonetic key: Hsitu / Xitu, Jinli / Jinly) agree at
    least at SAME_SOUND, enough for review, not alone for a match.
    """
    if a == b:
        return 1.0
    ratio = fuzz.ratio(a, b)
    similarity = max(0.0, (ratio - TOKEN_AGREE) / (100.0 - TOKEN_AGREE)) * MAX_VARIANT
    if (
        ratio >= SOUND_MIN_RATIO
        and len(a) >= 3
        and len(b) >= 3
        and phonetic_key(a) == phonetic_key(b)
    ):
        similarity = max(similarity, SAME_SOUND)
    return similarity


def _merge_split_words(tokens: list[tuple[str, str]], other: set[str]) -> list[tuple[str, str]]:
    """Join neighbours written apart on this side but as one word on the other."""
    if not other or len(tokens) < 2:
        return tokens
    out: list[tuple[str, str]] = []
    i, count = 0, len(tokens)
    while i < count:
        pair = tokens[i][0] + tokens[i + 1][0] if i + 1 < count else ""
        triple = pair + tokens[i + 2][0] if i + 2 < count else ""
        if triple and triple in other:
            out.append((triple, token_kind(triple)))
            i += 3
        elif pair and pair in other:
            out.append((pair, token_kind(pair)))
            i += 2
        else:
            out.append(tokens[i])
            i += 1
    return out


def compare_names(query: NormalisedName, candidate: NormalisedName) -> NameComparison:
    """Weighted, order-free token agreement of two names, 0–100, with its features."""
    q_words, c_words = set(query.tokens), set(candidate.tokens)
    if q_words == c_words and q_words:
        # The same words in any order: every variant the normaliser folds lands here.
        agreed: dict[str, list[str]] = {DISTINCT: [], PLACE: [], GENERIC_KIND: []}
        for token, kind in zip(query.tokens, query.kinds, strict=True):
            agreed[kind].append(token)
        return NameComparison(100.0, agreed, [], [], capped=False)
    q = list(zip(query.tokens, query.kinds, strict=True))
    c = list(zip(candidate.tokens, candidate.kinds, strict=True))
    if q_words != c_words:
        q = _merge_split_words(q, c_words - q_words)
        c = _merge_split_words(c, {t for t, _ in q} - c_words)
    q_has_place = any(k == PLACE for _, k in q)
    c_has_place = any(k == PLACE for _, k in c)

    def weight(kind: str, other_has_place: bool) -> float:
        if kind == PLACE and not other_has_place:
            return WEIGHTS[PLACE] * ONE_SIDED_PLACE
        return WEIGHTS[kind]

    # Equal words pair first (similarity 1); spelling variants then pair greedily, best first.
    c_position = {t: j for j, (t, _) in enumerate(c)}
    pairs = [(1.0, i, c_position[t]) for i, (t, _) in enumerate(q) if t in c_position]
    paired_q = {i for _, i, _ in pairs}
    paired_c = {j for _, _, j in pairs}
    fuzzy = []
    for i, (qt, qk) in enumerate(q):
        if i in paired_q:
            continue
        for j, (ct, ck) in enumerate(c):
            if j in paired_c or (qk == ck == PLACE):
                continue  # two known places that differ are two places (Longnan, Longyan)
            sim = _token_similarity(qt, ct)
            if sim > 0:
                fuzzy.append((sim, i, j))
    fuzzy.sort(key=lambda p: (-p[0], p[1], p[2]))
    pairs.extend(fuzzy)
    used_q: set[int] = set()
    used_c: set[int] = set()
    agreed = {DISTINCT: [], PLACE: [], GENERIC_KIND: []}
    matched = 0.0
    distinct_agrees = False
    for sim, i, j in pairs:
        if i in used_q or j in used_c:
            continue
        used_q.add(i)
        used_c.add(j)
        (qt, qk), (ct, ck) = q[i], c[j]
        # A pair counts as the weaker of its two kinds (a misspelt city stays a city).
        kind = min((qk, ck), key=lambda k: WEIGHTS[k])
        matched += sim * (weight(qk, c_has_place) + weight(ck, q_has_place))
        agreed[kind].append(qt if qt == ct else f"{qt}~{ct}")
        distinct_agrees |= kind == DISTINCT
    total = sum(weight(k, c_has_place) for _, k in q) + sum(weight(k, q_has_place) for _, k in c)
    score = 100.0 * matched / total if total else 0.0
    q_distinct = any(k == DISTINCT for _, k in q)
    c_distinct = any(k == DISTINCT for _, k in c)
    capped = q_distinct and c_distinct and not distinct_agrees
    if capped:
        score = min(score, GENERIC_ONLY_CAP)
    only_q = [t for i, (t, _) in enumerate(q) if i not in used_q]
    only_c = [t for j, (t, _) in enumerate(c) if j not in used_c]
    # Each side names a business the other does not (Magnet / Holdings): likely two
    # companies of one group, not one company spelt two ways.
    conflict = any(token_kind(t) == GENERIC_KIND for t in only_q) and any(
        token_kind(t) == GENERIC_KIND for t in only_c
    )
    if conflict:
        score = max(0.0, score - GENERIC_CONFLICT_PENALTY)
    return NameComparison(
        score=round(score, 1),
        agreed=agreed,
        only_query=only_q,
        only_candidate=only_c,
        capped=capped,
        generic_conflict=conflict,
    )


@dataclass(frozen=True)
class Hit:
    """The best-scoring name of one entry for one screened name."""

    entry: WatchlistEntry
    matched_name: str
    score: float
    explanation: str


def _explain(
    comparison: NameComparison,
    query: NormalisedName,
    candidate: NormalisedName,
    notes: list[str],
) -> str:
    parts = []
    if comparison.agreed[DISTINCT]:
        parts.append("distinct tokens agree: " + ", ".join(comparison.agreed[DISTINCT]))
    if comparison.agreed[PLACE]:
        parts.append("place agrees: " + ", ".join(comparison.agreed[PLACE]))
    if comparison.agreed[GENERIC_KIND]:
        parts.append("generic words shared: " + ", ".join(comparison.agreed[GENERIC_KIND]))
    if comparison.only_query:
        parts.append("only in screened name: " + ", ".join(comparison.only_query))
    if comparison.only_candidate:
        parts.append("only in list name: " + ", ".join(comparison.only_candidate))
    if comparison.capped:
        parts.append(
            f"only legal form, place and generic words shared (capped at {GENERIC_ONLY_CAP:g})"
        )
    if comparison.generic_conflict:
        parts.append(f"business words differ (-{GENERIC_CONFLICT_PENALTY:g})")
    if query.legal_forms != candidate.legal_forms and query.legal_forms and candidate.legal_forms:
        parts.append(
            "legal form differs (ignored): "
            f"{' '.join(query.legal_forms)} / {' '.join(candidate.legal_forms)}"
        )
    parts.extend(notes)
    return "; ".join(parts) if parts else "no token agrees"


def score_entry(
    query: NormalisedName,
    entry: WatchlistEntry,
    entry_names: Sequence[NormalisedName],
    *,
    country: str | None = None,
    identifiers: Sequence[str] = (),
) -> Hit:
    """Best score of a screened name over an entry's names, with qualifiers and explanation."""
    hit = _score_entry(query, entry, entry_names, country, identifiers, None)
    assert hit is not None
    return hit


def _score_entry(
    query: NormalisedName,
    entry: WatchlistEntry,
    entry_names: Sequence[NormalisedName],
    country: str | None,
    identifiers: Sequence[str],
    min_score: float | None,
) -> Hit | None:
    """score_entry, or None without building the explanation when below min_score."""
    best: tuple[NameComparison, int] | None = None
    for position, candidate in enumerate(entry_names):
        comparison = compare_names(query, candidate)
        if best is None or comparison.score > best[0].score:
            best = (comparison, position)
    assert best is not None
    comparison, position = best
    score = comparison.score
    notes: list[str] = []
    if position > 0:
        notes.append(f"matched alias {entry.names[position]!r}")
    if country and entry.countries:
        same = country in entry.countries or (
            country in _CHINA and bool(_CHINA.intersection(entry.countries))
        )
        if same:
            notes.append(f"country agrees: {country}")
        else:
            score -= COUNTRY_PENALTY
            notes.append(f"country differs: {country} / {'/'.join(entry.countries)}")
    ours = {clean_identifier(i) for i in identifiers if i and identifier_kind(i)}
    theirs = set(entry.identifiers)
    if ours and theirs:
        common = ours & theirs
        if common:
            code = sorted(common)[0]
            score = 100.0
            notes.append(f"identifier agrees: {identifier_kind(code)} {code}")
        elif {identifier_kind(i) for i in ours} & {identifier_kind(i) for i in theirs}:
            score -= IDENTIFIER_PENALTY
            notes.append(
                f"identifier differs: {', '.join(sorted(ours))} / {', '.join(sorted(theirs))}"
            )
    score = max(0.0, min(100.0, round(score, 1)))
    if min_score is not None and score < min_score:
        return None
    explanation = _explain(comparison, query, entry_names[position], notes)
    return Hit(entry, entry.names[position], score, explanation)


def blocking_keys(name: NormalisedName) -> set[str]:
    """Index keys of a name: trade-name tokens and their one-letter deletions (a typo or a
    one-letter variant shares one: Ruixin / Ruxin), their phonetic keys (Jinli / Jinly),
    joined neighbours and a compact prefix (Qiao Lan / Qiaolan).

    A name with no trade-name token is keyed on its full token set and on its places,
    so "China Rare Earth Group" finds its own kind without every Chinese entry.
    """
    distinct = name.distinct
    keys: set[str] = set()
    anchor = name.places[0] if name.places else ""
    for token in distinct:
        keys.add("t" + token)
        if len(token) >= MIN_DELETION_LENGTH:
            keys.add("d" + token)
            keys.update("d" + token[:i] + token[i + 1 :] for i in range(len(token)))
        # Consonant skeletons are shared by many names: narrowed by the place when there is
        # one (a romanisation variant keeps its city more often than not).
        sound = phonetic_key(token)
        if len(sound) >= 3 and (anchor or len(sound) >= 5):
            keys.add(f"p{anchor}:{sound}")
    for a, b in zip(distinct, distinct[1:], strict=False):
        keys.add("t" + a + b)
    if distinct:
        keys.add("c" + "".join(distinct)[:COMPACT_PREFIX])
    else:
        keys.add("g" + " ".join(sorted(name.tokens)))
        keys.update("h" + t for t in name.tokens if t != "china")
    return keys


class WatchlistIndex:
    """Inverted index over every name and alias of a WatchlistSet.

    A search looks up the query's blocking keys, bounds each blocked name's score with
    one vectorised rapidfuzz ``cdist`` of tokens, and gives only the names that could
    reach ``min_score`` to the explained scorer. Per-name data lives in flat numpy
    arrays so a query costs a few array operations, not a Python loop per name.
    """

    def __init__(self, entries: Sequence[WatchlistEntry]) -> None:
        self.entries = list(entries)
        self.entry_names: list[list[NormalisedName]] = []
        texts: list[str] = []
        tokens: list[str] = []
        kinds: list[int] = []
        sounds: list[int] = []  # phonetic key id of each token (-1: too short to count)
        self.sound_ids: dict[str, int] = {}
        starts: list[int] = []
        compact: list[str] = []
        trade_compact: list[str] = []
        weight: list[float] = []
        weight_no_place: list[float] = []
        has_place: list[bool] = []
        first_place: list[int] = []  # id of the name's first place (-1: none)
        self.place_ids: dict[str, int] = {}
        has_trade: list[bool] = []
        name_entry: list[int] = []
        key_hashes = array("q")  # blocking key hash, name position: one pair per key
        key_names = array("i")
        identifier_postings: dict[str, list[int]] = {}
        one_sided = WEIGHTS[PLACE] * ONE_SIDED_PLACE
        for position, entry in enumerate(self.entries):
            names = [normalise_name(n) for n in entry.names]
            self.entry_names.append(names)
            for name in names:
                slot = len(texts)
                texts.append(name.text)
                starts.append(len(tokens))
                tokens.extend(name.tokens)
                kinds.extend(_KIND_CODE[k] for k in name.kinds)
                sounds.extend(
                    self.sound_ids.setdefault(phonetic_key(t), len(self.sound_ids))
                    if len(t) >= 3
                    else -1
                    for t in name.tokens
                )
                trade_compact.append("".join(name.distinct))
                compact.append(
                    "".join(
                        t for t, k in zip(name.tokens, name.kinds, strict=True) if k != GENERIC_KIND
                    )
                )
                weight.append(sum(WEIGHTS[k] for k in name.kinds))
                weight_no_place.append(
                    sum(one_sided if k == PLACE else WEIGHTS[k] for k in name.kinds)
                )
                has_place.append(PLACE in name.kinds)
                first_place.append(
                    self.place_ids.setdefault(name.places[0], len(self.place_ids))
                    if name.places
                    else -1
                )
                has_trade.append(bool(name.distinct))
                name_entry.append(position)
                for key in blocking_keys(name):
                    key_hashes.append(hash(key))
                    key_names.append(slot)
            for code in entry.identifiers:
                identifier_postings.setdefault(code, []).append(position)
        starts.append(len(tokens))
        self.name_texts = texts  # canonical text of every name and alias
        self.name_entry = name_entry  # entry position of each name
        self.token_start = np.array(starts, dtype=np.int64)  # name -> its first token
        self.tokens = np.array(tokens, dtype=object)
        self.token_kind = np.array(kinds, dtype=np.int8)
        self.token_sound = np.array(sounds, dtype=np.int32)
        self.name_compact = np.array(compact, dtype=object)  # place + trade words run together
        self.name_trade_compact = np.array(trade_compact, dtype=object)
        self.name_weight = np.array(weight, dtype=np.float64)
        self.name_weight_no_place = np.array(weight_no_place, dtype=np.float64)
        self.name_has_place = np.array(has_place, dtype=bool)
        self.name_place = np.array(first_place, dtype=np.int32)
        self.name_has_trade = np.array(has_trade, dtype=bool)
        # Postings as one array sorted by key hash (a hash collision only adds a candidate):
        # a tenth of the memory of a dict of lists, and looked up with searchsorted.
        hashes = np.frombuffer(key_hashes, dtype=np.int64)
        order = np.argsort(hashes, kind="stable")
        self.key_hashes = hashes[order]
        self.key_names = np.frombuffer(key_names, dtype=np.int32)[order]
        self.identifier_postings = identifier_postings

    def postings(self, key: str) -> np.ndarray:
        """Name positions indexed under one blocking key."""
        hashed = hash(key)
        left = int(np.searchsorted(self.key_hashes, hashed, side="left"))
        right = int(np.searchsorted(self.key_hashes, hashed, side="right"))
        return self.key_names[left:right]

    def candidate_names(self, query: NormalisedName) -> np.ndarray:
        """Positions of names sharing useful blocking keys with the query, rarest evidence first.

        Each shared key counts 1 / (names under it), as IDF weighs a rare word; only the
        MAX_BLOCKED best-supported names go on, so the work per query stays flat as lists
        grow (a true variant shares its exact or one-letter-off trade words, which few
        other names carry).
        """
        hashes = np.array([hash(k) for k in blocking_keys(query)], dtype=np.int64)
        left = np.searchsorted(self.key_hashes, hashes, side="left")
        right = np.searchsorted(self.key_hashes, hashes, side="right")
        sizes = right - left
        useful = np.flatnonzero((sizes > 0) & (sizes <= MAX_POSTINGS))
        if not len(useful):
            return np.empty(0, dtype=np.int64)
        found = np.concatenate([self.key_names[left[k] : right[k]] for k in useful.tolist()])
        names, inverse = np.unique(found, return_inverse=True)
        if len(names) <= MAX_BLOCKED:
            return names.astype(np.int64)
        support = np.bincount(inverse, weights=np.repeat(1.0 / sizes[useful], sizes[useful]))
        if query.places:
            # A name in the query's own city outranks namesakes elsewhere: a typo often
            # spells another company's trade name (Xuzheng / Xuheng).
            same_place = self.name_place[names] == self.place_ids.get(query.places[0], -2)
            support *= np.where(same_place, SAME_PLACE_BOOST, 1.0)
        best = np.argpartition(-support, MAX_BLOCKED)[:MAX_BLOCKED]
        return np.sort(names[best]).astype(np.int64)

    def candidates(
        self, query: NormalisedName, min_score: float = DEFAULT_REVIEW_THRESHOLD
    ) -> set[int]:
        """Entries that blocking and the score bound put before the scorer.

        For the blocked names, one rapidfuzz ``cdist`` of the query's tokens against theirs
        gives an upper bound of each name's score (every token at its best possible
        agreement, counted from both sides); names whose bound is below min_score, or whose
        trade names cannot agree at all, cannot be reported and are dropped. Names whose
        place and trade words run together into the same string are kept whatever the
        bound says, since the scorer merges words split differently (Qiao Lan / Qiaolan).
        tests/test_match_quality.py checks that no labelled pair at or above review is lost.
        """
        names = self.candidate_names(query)
        if not len(names) or min_score <= GENERIC_ONLY_CAP or not query.tokens:
            return {self.name_entry[n] for n in names.tolist()}
        first = self.token_start[names]
        counts = self.token_start[names + 1] - first
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        flat_index = np.repeat(first - starts, counts) + np.arange(int(counts.sum()))
        kinds = self.token_kind[flat_index]
        column_name = np.repeat(np.arange(len(names)), counts)
        name_has_place = self.name_has_place[names]
        q_kinds = np.array([_KIND_CODE[k] for k in query.kinds], dtype=np.int8)
        q_has_place = PLACE in query.kinds
        ratio = process.cdist(
            query.tokens,
            self.tokens[flat_index].tolist(),
            scorer=fuzz.ratio,
            score_cutoff=SOUND_MIN_RATIO,
            dtype=np.float32,
        )
        similarity = np.clip((ratio - TOKEN_AGREE) / (100.0 - TOKEN_AGREE), 0, 1) * MAX_VARIANT
        q_sounds = np.array(
            [self.sound_ids.get(phonetic_key(t), -2) if len(t) >= 3 else -2 for t in query.tokens]
        )
        same_sound = (q_sounds[:, None] == self.token_sound[flat_index][None, :]) & (
            ratio >= SOUND_MIN_RATIO
        )
        similarity = np.where(same_sound, np.maximum(similarity, SAME_SOUND), similarity)
        similarity[ratio >= 100] = 1.0
        place, distinct = _KIND_CODE[PLACE], _KIND_CODE[DISTINCT]
        q_place = q_kinds[:, None] == place
        similarity[q_place & (kinds[None, :] == place) & (ratio < 100)] = 0.0
        one_sided = WEIGHTS[PLACE] * ONE_SIDED_PLACE
        row_weight = np.where(
            q_place & ~name_has_place[column_name][None, :],
            one_sided,
            _WEIGHT_BY_CODE[q_kinds][:, None],
        )
        column_weight = _WEIGHT_BY_CODE[kinds]
        if not q_has_place:
            column_weight = np.where(kinds == place, one_sided, column_weight)
        weighted = similarity * (row_weight + column_weight[None, :])
        by_rows = np.maximum.reduceat(weighted, starts, axis=1).sum(axis=0)
        by_columns = np.add.reduceat(weighted.max(axis=0), starts)
        q_total = np.where(
            name_has_place,
            sum(WEIGHTS[k] for k in query.kinds),
            sum(one_sided if k == PLACE else WEIGHTS[k] for k in query.kinds),
        )
        c_total = (self.name_weight if q_has_place else self.name_weight_no_place)[names]
        bound = 100.0 * np.minimum(by_rows, by_columns) / np.maximum(q_total + c_total, 1e-9)
        trade_pairs = (q_kinds[:, None] == distinct) & (kinds[None, :] == distinct)
        trade_agrees = np.maximum.reduceat((similarity * trade_pairs).max(axis=0), starts) > 0
        capped = bool(query.distinct) & self.name_has_trade[names] & ~trade_agrees
        keep = (bound >= min_score - 0.05) & ~capped
        probes = (
            (
                "".join(
                    t for t, k in zip(query.tokens, query.kinds, strict=True) if k != GENERIC_KIND
                ),
                self.name_compact,
            ),
            ("".join(query.distinct), self.name_trade_compact),
        )
        for probe, texts in probes:
            if probe:
                keep |= texts[names] == probe
        return {self.name_entry[n] for n in names[keep].tolist()}

    def search(
        self,
        name: str,
        *,
        country: str | None = None,
        identifiers: Sequence[str] = (),
        min_score: float = DEFAULT_REVIEW_THRESHOLD,
    ) -> list[Hit]:
        """Entries scoring at least min_score for a name, best first."""
        query = normalise_name(str(name))
        found = self.candidates(query, min_score)
        for code in {clean_identifier(i) for i in identifiers if i and identifier_kind(i)}:
            found.update(self.identifier_postings.get(code, ()))
        hits = []
        for position in found:
            hit = _score_entry(
                query,
                self.entries[position],
                self.entry_names[position],
                country,
                identifiers,
                min_score,
            )
            if hit is not None:
                hits.append(hit)
        hits.sort(key=lambda h: (-h.score, h.entry.list_id, h.entry.entry_id))
        return hits


def index_of(lists: WatchlistSet) -> WatchlistIndex:
    """The set's index, built once and kept on the set."""
    if lists._index is None:
        lists._index = WatchlistIndex(lists.entries)
    return lists._index


# --- decisions (adjudication) ----------------------------------------------------------

DECISION_FIELDS = ("supplier_id", "name", "entry", "verdict", "by", "date", "note")


@dataclass(frozen=True)
class Decision:
    """An analyst's ruling on one (supplier or name, list entry) pair."""

    entry: str
    verdict: str  # positive | negative
    by: str
    on: str
    note: str = ""
    supplier_id: str | None = None
    name: str | None = None
    list_id: str | None = None
    row: int = 0

    def covers(self, supplier_id: str | None, match: dict[str, Any]) -> bool:
        """True when this ruling is about this match."""
        if self.supplier_id and self.supplier_id != supplier_id:
            return False
        if self.name and normalise_name(self.name).tokens != normalise_name(match["name"]).tokens:
            return False
        if self.list_id and self.list_id.upper() != match["list"]:
            return False
        wanted = self.entry.strip()
        return wanted == match["entry_id"] or (
            normalise_name(wanted).tokens == normalise_name(match["entry"]).tokens
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "supplier_id": self.supplier_id,
            "name": self.name,
            "list": self.list_id,
            "entry": self.entry,
            "verdict": self.verdict,
            "by": self.by,
            "date": self.on,
            "note": self.note,
            "row": self.row,
        }


def _decision_error(path: Path, row: int, message: str) -> WaiverError:
    issue = make_issue("bad-decision", "error", message, file=str(path), row=row)
    return WaiverError(f"{path}, row {row}: {message}", [issue])


def load_decisions(path: Path) -> tuple[list[Decision], str]:
    """Read a decisions file (YAML list under `decisions:` or CSV) and its SHA-256."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise WaiverError(f"{path}: cannot read the decisions file: {exc}") from exc
    digest = hashlib.sha256(data).hexdigest()
    text = data.decode("utf-8-sig", errors="replace")
    records: list[tuple[int, dict[str, Any]]] = []
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(io.StringIO(text))
        for line, record in enumerate(reader, start=2):
            records.append((line, {k.strip().lower(): v for k, v in record.items() if k}))
    else:
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            raise _decision_error(path, mark.line + 1 if mark else 1, f"not YAML: {exc}") from exc
        items = loaded.get("decisions") if isinstance(loaded, dict) else loaded
        if not isinstance(items, list):
            raise _decision_error(path, 1, "expected a list of decisions under `decisions:`")
        lines = [n for n, line in enumerate(text.splitlines(), 1) if line.lstrip().startswith("-")]
        for position, item in enumerate(items):
            line = lines[position] if position < len(lines) else position + 1
            if not isinstance(item, dict):
                raise _decision_error(path, line, "each decision is a mapping")
            records.append((line, {str(k).lower(): v for k, v in item.items()}))
    decisions = []
    for line, record in records:
        who = record.get("by") or record.get("who")
        entry = record.get("entry")
        verdict = str(record.get("verdict") or "").strip().lower()
        supplier_id = record.get("supplier_id")
        name = record.get("name")
        when = record.get("date")
        if not entry:
            raise _decision_error(path, line, "`entry` (list entry id or name) is required")
        if verdict not in ("positive", "negative"):
            raise _decision_error(
                path, line, f"verdict must be positive or negative, not {verdict!r}"
            )
        if not (supplier_id or name):
            raise _decision_error(path, line, "give `supplier_id` or `name`")
        if not who:
            raise _decision_error(path, line, "`by` (who decided) is required")
        if not when:
            raise _decision_error(path, line, "`date` is required")
        try:
            on = date.fromisoformat(str(when)).isoformat()
        except ValueError as exc:
            raise _decision_error(path, line, f"date {when!r} is not YYYY-MM-DD") from exc
        decisions.append(
            Decision(
                entry=str(entry),
                verdict=verdict,
                by=str(who),
                on=on,
                note=str(record.get("note") or ""),
                supplier_id=str(supplier_id) if supplier_id else None,
                name=str(name) if name else None,
                list_id=str(record["list"]) if record.get("list") else None,
                row=line,
            )
        )
    return decisions, digest


# --- screening a portfolio ------------------------------------------------------------


@dataclass
class MatchOutcome:
    """Matches per supplier and per owner name, the decisions applied, and what was tested."""

    by_supplier: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    by_owner: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    decisions: dict[str, Any] = field(default_factory=dict)
    tested: bool = False  # False when no list was loaded: listing prongs are not tested
    issues: list[Issue] = field(default_factory=list)


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    text = str(value).strip()
    return text or None


@dataclass(frozen=True)
class _Query:
    field: str
    name: str
    country: str | None
    identifiers: tuple[str, ...]
    file: str
    sheet: str
    row: int
    column: str


def _supplier_queries(portfolio: Portfolio) -> dict[str, list[_Query]]:
    queries: dict[str, list[_Query]] = {}
    for rec in portfolio.suppliers.to_dict("records"):
        sid = str(rec["supplier_id"])
        where = (str(rec.get("_file")), str(rec.get("_sheet")), int(rec.get("_row") or 0))
        found = queries.setdefault(sid, [])
        name = _text(rec.get("supplier_name"))
        if name:
            lei = _text(rec.get("lei"))
            found.append(
                _Query(
                    "supplier_name",
                    name,
                    _text(rec.get("country")),
                    (lei,) if lei else (),
                    *where,
                    "supplier_name",
                )
            )
        parent = _text(rec.get("parent_name"))
        if parent:
            found.append(
                _Query(
                    "parent_name",
                    parent,
                    _text(rec.get("parent_country")),
                    (),
                    *where,
                    "parent_name",
                )
            )
    sourcing = portfolio.sourcing
    if "operator" in sourcing.columns:
        for rec in sourcing.to_dict("records"):
            operator = _text(rec.get("operator"))
            sid = str(rec["supplier_id"])
            if operator and sid in queries:
                queries[sid].append(_row_query(rec, "operator", operator, "country"))
    for rec in portfolio.ownership.to_dict("records"):
        owner = _text(rec.get("owner"))
        entity = str(rec.get("entity"))
        if owner and entity in queries:
            queries[entity].append(_row_query(rec, "owner", owner, "owner_country"))
    return queries


def _row_query(rec: dict[str, Any], field: str, name: str, country: str) -> _Query:
    """The screening query for the name in `field` of one Sourcing or Ownership row."""
    return _Query(
        field,
        name,
        _text(rec.get(country)),
        (),
        str(rec.get("_file")),
        str(rec.get("_sheet")),
        int(rec.get("_row") or 0),
        field,
    )


def _owner_queries(portfolio: Portfolio) -> dict[str, list[_Query]]:
    queries: dict[str, list[_Query]] = {}
    for rec in portfolio.ownership.to_dict("records"):
        owner = _text(rec.get("owner"))
        if owner:
            queries.setdefault(str(rec.get("owner")), []).append(
                _row_query(rec, "owner", owner, "owner_country")
            )
    return queries


def _matches_for(
    queries: Iterable[_Query],
    index: WatchlistIndex,
    portfolio: Portfolio,
    match_threshold: float,
    review_threshold: float,
    cache: dict[tuple[str, str | None, tuple[str, ...]], list[Hit]],
) -> list[dict[str, Any]]:
    """One match dict per (field, screened name, entry), evidence merged over rows."""
    merged: dict[tuple[str, str, str], dict[str, Any]] = {}
    for query in queries:
        key = (query.name, query.country, query.identifiers)
        if key not in cache:
            cache[key] = index.search(
                query.name,
                country=query.country,
                identifiers=query.identifiers,
                min_score=review_threshold,
            )
        evidence = portfolio.evidence(query.file, query.sheet, query.row, query.column).to_dict()
        for hit in cache[key]:
            slot = (query.field, query.name, hit.entry.entry_id)
            if slot in merged:
                if evidence not in merged[slot]["evidence"]:
                    merged[slot]["evidence"].append(evidence)
                continue
            merged[slot] = {
                "field": query.field,
                "list": hit.entry.list_id,
                "entry": hit.entry.name,
                "score": hit.score,
                "status": "match" if hit.score >= match_threshold else "review",
                "explanation": f"{query.field} {query.name!r} ~ {hit.matched_name!r} "
                f"({hit.entry.list_id} {hit.entry.entry_id}): {hit.explanation}",
                "name": query.name,
                "matched_name": hit.matched_name,
                "entry_id": hit.entry.entry_id,
                "entry_country": hit.entry.country,
                "source_url": hit.entry.source_url,
                "list_file": hit.entry.file,
                "list_row": hit.entry.row,
                "evidence": [evidence],
            }
    return sorted(merged.values(), key=lambda m: (-m["score"], m["field"], m["entry_id"]))


def _apply_decisions(
    matches: list[dict[str, Any]],
    supplier_id: str | None,
    decisions: list[Decision],
    used: dict[int, list[dict[str, Any]]],
) -> list[dict[str, Any]]:
    kept = []
    for match in matches:
        ruling = next((d for d in decisions if d.covers(supplier_id, match)), None)
        if ruling is None:
            kept.append(match)
            continue
        used.setdefault(id(ruling), []).append(
            {
                "supplier_id": supplier_id,
                "field": match["field"],
                "name": match["name"],
                "entry_id": match["entry_id"],
                "score": match["score"],
            }
        )
        if ruling.verdict == "negative":
            continue  # closed as a false positive: recorded in the audit trail, not shown
        confirmed = dict(match)
        confirmed["status"] = "match"
        confirmed["explanation"] += f"; confirmed by {ruling.by} on {ruling.on}" + (
            f" ({ruling.note})" if ruling.note else ""
        )
        confirmed["decision"] = ruling.to_dict()
        kept.append(confirmed)
    return kept


def screen_portfolio(
    portfolio: Portfolio,
    lists: WatchlistSet,
    *,
    match_threshold: float = DEFAULT_MATCH_THRESHOLD,
    review_threshold: float = DEFAULT_REVIEW_THRESHOLD,
    decisions: Path | None = None,
) -> MatchOutcome:
    """Screen every supplier, parent, operator and owner name of a portfolio."""
    if not 0 <= review_threshold <= match_threshold <= 100:
        raise RulesError(
            f"thresholds must satisfy 0 ≤ review ({review_threshold}) ≤ match "
            f"({match_threshold}) ≤ 100"
        )
    rulings: list[Decision] = []
    record: dict[str, Any] = {"path": None, "sha256": None, "applied": [], "unused": []}
    if decisions is not None:
        rulings, digest = load_decisions(decisions)
        record.update(path=str(decisions), sha256=digest)
    outcome = MatchOutcome(decisions=record, tested=lists.loaded)
    supplier_queries = _supplier_queries(portfolio)
    owner_queries = _owner_queries(portfolio)
    if not lists.loaded:
        outcome.issues.append(
            make_issue(
                "no-watchlist", "warning", "no watchlist loaded: listing prongs are not tested"
            )
        )
        outcome.by_supplier = {sid: [] for sid in supplier_queries}
        outcome.by_owner = {owner: [] for owner in owner_queries}
        return outcome
    index = index_of(lists)
    cache: dict[tuple[str, str | None, tuple[str, ...]], list[Hit]] = {}
    used: dict[int, list[dict[str, Any]]] = {}
    for sid, queries in supplier_queries.items():
        found = _matches_for(queries, index, portfolio, match_threshold, review_threshold, cache)
        outcome.by_supplier[sid] = _apply_decisions(found, sid, rulings, used)
    for owner, queries in owner_queries.items():
        found = _matches_for(queries, index, portfolio, match_threshold, review_threshold, cache)
        owned_by = {
            str(e)
            for e in portfolio.ownership.loc[
                portfolio.ownership["owner"].astype(str) == owner, "entity"
            ]
        }
        # A ruling given per supplier also closes the owner's hit on that supplier's sheet.
        owning: str | None = next(iter(owned_by)) if len(owned_by) == 1 else None
        outcome.by_owner[owner] = _apply_decisions(found, owning, rulings, used)
    for ruling in rulings:
        if id(ruling) in used:
            record["applied"].append({**ruling.to_dict(), "matches": used[id(ruling)]})
        else:
            record["unused"].append(ruling.to_dict())
    return outcome
