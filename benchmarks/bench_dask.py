"""The Dask engine's intake on Parquet tables: partitions validated on a local cluster.

    python benchmarks/bench_dask.py TABLES_DIR [--workers 2]

Starts a ``distributed.LocalCluster`` (processes, one thread each), validates
the suppliers/sourcing/ownership tables with ``engine_dask.load_portfolio_dask``
and prints one JSON line: seconds (cluster start-up excluded), rows, issues.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tables", type=Path)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)

    from distributed import Client, LocalCluster

    from feocscreen.engine_dask import load_portfolio_dask

    with (
        LocalCluster(
            n_workers=args.workers, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
        client.as_current(),
    ):
        started = time.perf_counter()
        portfolio = load_portfolio_dask([args.tables])
        seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "seconds": seconds,
                "suppliers": len(portfolio.suppliers),
                "sourcing": len(portfolio.sourcing),
                "ownership": len(portfolio.ownership),
                "issues": len(portfolio.issues),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
