"""The Dask engine on Parquet tables, on a local cluster: intake alone, or the whole screen.

    python benchmarks/bench_dask.py TABLES_DIR [--workers 2] [--screen OUT_DIR]

Starts a ``distributed.LocalCluster`` (processes, one thread each), validates the
suppliers/sourcing/ownership tables with ``engine_dask.load_portfolio_dask`` or,
with ``--screen``, runs ``engine_dask.screen_dask`` end to end, streaming
(suppliers.parquet parts and summary.json into OUT_DIR), and prints one JSON line: seconds (cluster
start-up excluded) and counts.
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
    parser.add_argument("--screen", type=Path, help="screen end to end, writing here")
    args = parser.parse_args(argv)

    from distributed import Client, LocalCluster

    from feocscreen.engine_dask import load_portfolio_dask, screen_dask
    from feocscreen.models import ScreenConfig

    with (
        LocalCluster(
            n_workers=args.workers, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
        client.as_current(),
    ):
        started = time.perf_counter()
        if args.screen is not None:
            result = screen_dask(
                ScreenConfig(inputs=(args.tables,)), client, output=args.screen, stream=True
            )
            portfolio = result.portfolio
        else:
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
