"""Throughput of alternating-offers bargaining (target: 10,000 negotiations/s on one core).

The simple case of theory card 7: seller payoff (w - 20)(100 - w)/2, buyer
payoff (100 - w)^2/4, w in [20, 60], linear concession on both sides,
``AlternatingOffers(deadline=20)``; every negotiation is a fresh
``negotiate()`` call (its frontier is rebuilt each time).

    .venv/bin/python -m benchmarks.bench_negotiation
"""

from __future__ import annotations

import time


def negotiations_per_second(n: int = 20000) -> float:
    """Negotiations per second of AlternatingOffers(deadline=20) on the card 7 simple case."""
    from channel_agents.negotiation import AlternatingOffers, Party

    seller = Party(lambda w: (w - 20.0) * (100.0 - w) / 2.0)
    buyer = Party(lambda w: (100.0 - w) ** 2 / 4.0)
    protocol = AlternatingOffers(deadline=20)
    for _ in range(min(n, 200)):  # warm-up: caches, branch predictors
        protocol.negotiate(seller, buyer, 20.0, 60.0)
    start = time.perf_counter()
    for _ in range(n):
        protocol.negotiate(seller, buyer, 20.0, 60.0)
    return n / (time.perf_counter() - start)


if __name__ == "__main__":
    print(f"alternating offers (deadline 20): {negotiations_per_second():,.0f} negotiations/s")
