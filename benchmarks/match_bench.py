"""Watchlist matching benchmark: blocked search vs exhaustive rapidfuzz scoring.

    python benchmarks/match_bench.py [--queries N] [--entries M] [--sample S] [--seed K]

Builds M synthetic list entries (Chinese-style place + trade name + business words + legal
form, and some non-Chinese names), then screens N query names — half are spelling variants
of listed names (case, legal form, abbreviations, word order, split pinyin, dropped city,
typos), half are unlisted names from the same generator — through
``feocscreen.match.WatchlistIndex.search``.

Exhaustive reference: for S sampled queries, ``rapidfuzz.process.cdist`` (1 worker) of the
same canonical names (same normaliser) against all M names, at --threshold, with three
scorers: token_sort_ratio and token_set_ratio on the full names, and token_sort_ratio on
the place + trade words only (generic business words removed). All times are CPU time
(``time.process_time``), so other load on the machine does not skew the ratio.

Printed per reference:
* speed ratio = exhaustive CPU per query / blocked CPU per query (blocked includes
  normalising, blocking, the score bound, scoring and explanations);
* planted variants reported: of the sampled queries that are variants of a listed name,
  how many each method returns with their source entry (exhaustive: at or above the
  threshold; blocked: at or above the review threshold). This is the recall that
  matters: "blocked >= 0.99 x exhaustive" is the issue's target;
* blocking keys reach: the share of the pairs exhaustive scoring returns that share a
  blocking key with the query. On full names most such pairs are different companies
  sharing long generic tails ("macau bicang rareearth smelting" / "macau cilian rareearth
  smelting" score 91), which blocking rightly never looks at, so this share is low by
  design and is printed for transparency, not as recall.

Peak memory is the process's maximum resident set size.

Target (issue 4): >= 100x faster than exhaustive at >= 99 % of its recall.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
from pathlib import Path

import numpy as np
from rapidfuzz import fuzz, process

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from feocscreen.match import DEFAULT_MATCH_THRESHOLD, WatchlistIndex  # noqa: E402
from feocscreen.names import GENERIC_KIND, PLACES_HAN, normalise_name, token_kind  # noqa: E402
from feocscreen.watchlist import WatchlistEntry  # noqa: E402

SYLLABLES = [
    "an",
    "ao",
    "ba",
    "bai",
    "ban",
    "bang",
    "bao",
    "bei",
    "ben",
    "bi",
    "bian",
    "bin",
    "bo",
    "bu",
    "cai",
    "can",
    "cang",
    "ce",
    "chang",
    "chao",
    "chen",
    "cheng",
    "chi",
    "chong",
    "chu",
    "chuan",
    "chun",
    "ci",
    "cong",
    "cui",
    "da",
    "dai",
    "dan",
    "dang",
    "de",
    "deng",
    "di",
    "dian",
    "ding",
    "dong",
    "du",
    "duan",
    "dun",
    "fa",
    "fan",
    "fang",
    "fei",
    "fen",
    "feng",
    "fu",
    "gai",
    "gan",
    "gang",
    "gao",
    "ge",
    "gong",
    "gu",
    "guan",
    "guang",
    "gui",
    "guo",
    "hai",
    "han",
    "hang",
    "hao",
    "he",
    "hong",
    "hou",
    "hu",
    "hua",
    "huai",
    "huan",
    "huang",
    "hui",
    "huo",
    "ji",
    "jia",
    "jian",
    "jiang",
    "jiao",
    "jie",
    "jin",
    "jing",
    "jiu",
    "ju",
    "jun",
    "kai",
    "kang",
    "ke",
    "kun",
    "lan",
    "lang",
    "lei",
    "li",
    "lian",
    "liang",
    "lin",
    "ling",
    "liu",
    "long",
    "lu",
    "luo",
    "ma",
    "mao",
    "mei",
    "meng",
    "min",
    "ming",
    "mu",
    "na",
    "nan",
    "neng",
    "ning",
    "nuo",
    "ou",
    "pan",
    "peng",
    "ping",
    "qi",
    "qian",
    "qiang",
    "qiao",
    "qin",
    "qing",
    "qiu",
    "quan",
    "rong",
    "rui",
    "run",
    "sai",
    "san",
    "sen",
    "sheng",
    "shi",
    "shou",
    "shu",
    "shun",
    "si",
    "song",
    "tai",
    "tan",
    "tang",
    "tao",
    "teng",
    "tian",
    "ting",
    "tong",
    "wan",
    "wang",
    "wei",
    "wen",
    "wu",
    "xi",
    "xia",
    "xian",
    "xiang",
    "xiao",
    "xin",
    "xing",
    "xiong",
    "xu",
    "xuan",
    "ya",
    "yan",
    "yang",
    "yao",
    "ye",
    "yi",
    "yin",
    "ying",
    "yong",
    "you",
    "yu",
    "yuan",
    "yue",
    "yun",
    "ze",
    "zhan",
    "zhang",
    "zhao",
    "zhe",
    "zhen",
    "zheng",
    "zhi",
    "zhong",
    "zhou",
    "zhu",
    "zhuo",
]
PLACES = [p.title() for p in sorted(set(PLACES_HAN.values()))]
BUSINESS = [
    "Rare Earth New Materials",
    "Magnetic Materials Technology",
    "Permanent Magnet Technology",
    "Rare Earth",
    "Magnet",
    "New Materials Technology",
    "Nonferrous Metals",
    "High Technology",
    "Industrial",
    "International Trading",
    "Rare Earth Smelting",
    "Electronics",
    "Metal Materials",
    "Precision Alloy",
    "Mining Development",
    "Magnetic Industry",
]
LEGAL = ["Co., Ltd.", "Group Co., Ltd.", "Company Limited", "Co. Ltd", "Joint Stock Co., Ltd."]
WESTERN_LEGAL = ["GmbH", "LLC", "JSC", "Inc.", "Ltd", "S.A.", "Pty Ltd", "AG", "OOO"]
ABBREVIATE = {
    "Technology": "TECH",
    "Materials": "MATL",
    "Group": "GRP",
    "International": "INTL",
    "Industrial": "IND",
    "Company": "CO",
    "Limited": "LTD",
    "High Technology": "HI-TECH",
}


def trade_name(rng: random.Random) -> str:
    count = 2 if rng.random() < 0.7 else 3
    return "".join(rng.choice(SYLLABLES) for _ in range(count)).title()


def synthetic_name(rng: random.Random) -> str:
    if rng.random() < 0.8:
        parts = [rng.choice(PLACES), trade_name(rng), rng.choice(BUSINESS), rng.choice(LEGAL)]
        if rng.random() < 0.1:
            parts.insert(1, trade_name(rng))
        return " ".join(parts)
    words = [trade_name(rng) for _ in range(rng.randint(1, 2))]
    return " ".join([*words, rng.choice(BUSINESS), rng.choice(WESTERN_LEGAL)])


SYLLABLE_SET = frozenset(SYLLABLES)


def split_syllables(word: str) -> str:
    """'Qiaolan' -> 'Qiao Lan': a trade name written apart at a syllable boundary."""
    lower = word.lower()
    for cut in range(len(lower) - 1, 0, -1):
        if (
            lower[:cut] in SYLLABLE_SET
            and lower[cut : cut + 2]
            and any(lower[cut:].startswith(s) for s in SYLLABLE_SET)
        ):
            return word[:cut] + " " + word[cut:].title()
    return word


def variant(name: str, rng: random.Random) -> str:
    """One or two spelling changes an analyst would still call the same company."""
    out = name
    for _ in range(rng.randint(1, 2)):
        kind = rng.choice(["upper", "legal", "abbrev", "order", "split", "drop_place", "typo"])
        words = out.split()
        trade = 1 if words and words[0] in PLACES else 0  # where the trade name stands
        if kind == "upper":
            out = out.upper().replace(",", "").replace(".", "")
        elif kind == "legal":
            out = " ".join(
                w for w in words if w.strip(",.") not in {"Co", "Ltd", "Company", "Limited"}
            )
            out += " " + rng.choice(LEGAL)
        elif kind == "abbrev":
            for long, short in ABBREVIATE.items():
                out = out.replace(long, short)
        elif kind == "order" and trade == 1:
            out = " ".join([words[1], f"({words[0]})", *words[2:]])
        elif kind == "split" and len(words) > trade:
            words[trade] = split_syllables(words[trade])
            out = " ".join(words)
        elif kind == "drop_place" and trade == 1:
            out = " ".join(words[1:])
        elif kind == "typo" and len(words) > trade and len(words[trade]) > 5:
            i = rng.randrange(1, len(words[trade]) - 1)
            words[trade] = words[trade][:i] + words[trade][i + 1 :]
            out = " ".join(words)
    return out


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=100_000)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=200, help="queries scored exhaustively")
    parser.add_argument(
        "--threshold",
        type=float,
        default=90.0,
        help="token_sort_ratio at which exhaustive scoring calls a pair",
    )
    parser.add_argument("--seed", type=int, default=4)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)

    started = time.process_time()
    names = [synthetic_name(rng) for _ in range(args.entries)]
    entries = [WatchlistEntry(entry_id=str(i), list_id="EL", name=n) for i, n in enumerate(names)]
    generated = time.process_time() - started
    started = time.process_time()
    index = WatchlistIndex(entries)
    built = time.process_time() - started
    print(
        f"entries {args.entries:,}: generated in {generated:.1f} s, indexed in {built:.1f} s "
        f"({args.entries / built:,.0f} entries/s), {len(index.key_hashes):,} key postings, "
        f"peak RSS {peak_rss_mb():,.0f} MB"
    )

    planted: dict[int, int] = {}  # query position -> entry it is a variant of
    queries = []
    for position in range(args.queries):
        if rng.random() < 0.5:
            source = rng.randrange(len(names))
            planted[position] = source
            queries.append(variant(names[source], rng))
        else:
            queries.append(synthetic_name(rng))
    started = time.process_time()
    reported = 0
    found_review = found_match = 0
    for position, query in enumerate(queries):
        hits = index.search(query)
        reported += len(hits)
        if position in planted:
            scores = [h.score for h in hits if h.entry.entry_id == str(planted[position])]
            found_review += bool(scores)
            found_match += bool(scores) and scores[0] >= DEFAULT_MATCH_THRESHOLD
    blocked = time.process_time() - started
    per_query_blocked = blocked / len(queries)
    print(
        f"blocked search: {len(queries):,} queries in {blocked:.1f} s = "
        f"{len(queries) / blocked:,.0f} rows/s ({per_query_blocked * 1e3:.2f} ms/query), "
        f"{reported:,} hits at or above review"
    )
    print(
        f"planted variants found: {found_review}/{len(planted)} at review or above "
        f"({found_review / max(len(planted), 1):.3f}), {found_match} at match "
        f"({found_match / max(len(planted), 1):.3f})"
    )

    positions = rng.sample(range(len(queries)), min(args.sample, len(queries)))
    sample = [queries[p] for p in positions]
    normalised = [normalise_name(q) for q in sample]

    def identity(text: str) -> str:
        return " ".join(t for t in text.split() if token_kind(t) != GENERIC_KIND)

    texts = [n.text for n in normalised]
    references = {
        "token_sort_ratio": (fuzz.token_sort_ratio, index.name_texts, texts),
        "token_set_ratio": (fuzz.token_set_ratio, index.name_texts, texts),
        "token_sort_ratio on place + trade words": (
            fuzz.token_sort_ratio,
            [identity(text) for text in index.name_texts],
            [identity(text) for text in texts],
        ),
    }
    blocked_only = [
        {index.name_entry[j] for j in index.candidate_names(n).tolist()} for n in normalised
    ]
    reported = [{h.entry.entry_id for h in index.search(q)} for q in sample]
    print(
        f"exhaustive rapidfuzz cdist at >= {args.threshold:g}, 1 worker, {len(sample)} sampled "
        f"queries x {len(index.name_texts):,} names (CPU time):"
    )

    def blocked_per_query() -> float:
        """CPU per query of blocked search over the sample, timed next to each exhaustive
        pass so both run under the same machine load (shared CPUs vary over minutes)."""
        spent = 0.0
        for _ in range(3):
            normalise_name.cache_clear()  # each query normalised afresh, as in real use
            started = time.process_time()
            for query in sample:
                index.search(query)
            spent += time.process_time() - started
        return spent / (3 * len(sample))

    for label, (scorer, choices, probes) in references.items():
        before = blocked_per_query()
        started = time.process_time()
        scores = process.cdist(
            probes, choices, scorer=scorer, score_cutoff=args.threshold, dtype=np.uint8, workers=1
        )
        per_query = (time.process_time() - started) / len(sample)
        per_query_blocked = (before + blocked_per_query()) / 2
        wanted = kept = planted_exhaustive = planted_blocked = planted_total = 0
        for row, position in enumerate(positions):
            reference = {index.name_entry[j] for j in np.flatnonzero(scores[row])}
            wanted += len(reference)
            kept += len(reference & blocked_only[row])
            if position in planted:
                planted_total += 1
                planted_exhaustive += planted[position] in reference
                planted_blocked += str(planted[position]) in reported[row]
        print(
            f"  {label:<40} {per_query * 1e3:8.1f} ms/query (blocked "
            f"{per_query_blocked * 1e3:.2f})  speed ratio "
            f"{per_query / per_query_blocked:6,.0f}x  blocking keys reach {kept}/{wanted} "
            f"= {kept / max(wanted, 1):.3f} of its pairs  planted variants reported: "
            f"exhaustive {planted_exhaustive}/{planted_total}, blocked {planted_blocked}/"
            f"{planted_total}"
        )
    print(f"peak RSS {peak_rss_mb():,.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
