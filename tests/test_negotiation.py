"""Bargaining protocols reproduce theory card 7 and the textbook solutions in general.

Card 7: a manufacturer (the seller) and a retailer (the buyer) bargain over the
wholesale price w; the retailer then prices at p(w) = (a + b w) / (2b) and sells
q = (a - b w) / 2, so the seller earns (w - c) q and the buyer (p - w) q =
(a - b w)^2 / (4b), w in [c, (a + b c) / (2b)]. Expected numbers come from the
card or from the hand algebra written next to them, never from running the module.
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from channel_agents import negotiation
from channel_agents.negotiation import (
    PROTOCOLS,
    Agreement,
    AlternatingOffers,
    KalaiSmorodinsky,
    Nash,
    NoAgreement,
    Offer,
    Party,
    Protocol,
    Rubinstein,
    TakeItOrLeaveIt,
    make_protocol,
    register,
    split_pie,
)

A_, B_, C_ = 100.0, 1.0, 20.0  # card 7
LO, HI = C_, (A_ + B_ * C_) / (2 * B_)  # w in [20, 60]


def card7(
    a: float = A_,
    b: float = B_,
    c: float = C_,
    *,
    seller: dict | None = None,
    buyer: dict | None = None,
) -> tuple[Party, Party, float, float]:
    """Seller (manufacturer) and buyer (retailer) of card 7, and the range of w."""
    s = Party(lambda w: (w - c) * (a - b * w) / 2, **(seller or {}))
    r = Party(lambda w: (a - b * w) ** 2 / (4 * b), **(buyer or {}))
    return s, r, c, (a + b * c) / (2 * b)


def pie_parties(pie: float, **kwargs: float) -> tuple[Party, Party]:
    """A transferable pie: the seller gets x, the buyer pie - x (e.g. x is a fixed fee)."""
    return (
        Party(lambda x: x, kwargs.get("d_s", 0.0), kwargs.get("delta_s", 0.9)),
        Party(lambda x: pie - x, kwargs.get("d_b", 0.0), kwargs.get("delta_b", 0.9)),
    )


def _market(b: float, c: float, big_a: float) -> tuple[float, float, float]:
    return big_a + b * c, b, c


# a > b c by construction: A = a - b c in [1, 1000]
markets = st.builds(_market, st.floats(0.1, 10.0), st.floats(0.0, 50.0), st.floats(1.0, 1000.0))
discounts = st.floats(0.05, 0.99)


# --------------------------------------------------------------------------- card 7 table


def test_take_it_or_leave_it_reproduces_card_7_w_60_payoffs_800_400():
    seller, buyer, lo, hi = card7()
    deal = TakeItOrLeaveIt().negotiate(seller, buyer, lo, hi)
    assert deal.agreed and deal.protocol == "take_it_or_leave_it"
    assert deal.terms == pytest.approx(60.0, rel=1e-12)
    assert (deal.seller_payoff, deal.buyer_payoff) == pytest.approx((800.0, 400.0), rel=1e-12)
    assert deal.rounds == 1
    assert deal.history == (Offer(0, "seller", deal.terms, deal.seller_payoff, deal.buyer_payoff),)


def test_nash_with_equal_power_reproduces_card_7_w_40_payoffs_600_900():
    seller, buyer, lo, hi = card7()
    deal = Nash().negotiate(seller, buyer, lo, hi)
    assert deal.agreed and deal.protocol == "nash"
    assert deal.terms == pytest.approx(40.0, rel=1e-10)
    assert (deal.seller_payoff, deal.buyer_payoff) == pytest.approx((600.0, 900.0), rel=1e-10)


def test_kalai_smorodinsky_reproduces_card_7_w_36_payoffs_512_1024():
    seller, buyer, lo, hi = card7()
    deal = KalaiSmorodinsky().negotiate(seller, buyer, lo, hi)
    assert deal.agreed and deal.protocol == "kalai_smorodinsky"
    assert deal.terms == pytest.approx(36.0, rel=1e-10)
    assert (deal.seller_payoff, deal.buyer_payoff) == pytest.approx((512.0, 1024.0), rel=1e-10)


def test_card_7_retail_price_quantity_and_consumer_surplus_follow_from_the_agreed_w():
    # p = (a + b w) / (2b), q = (a - b w) / 2, CS = q^2 / (2b): rows of card 7
    rows = {
        "take_it_or_leave_it": (80, 20, 200),
        "nash": (70, 30, 450),
        "kalai_smorodinsky": (68, 32, 512),
    }
    seller, buyer, lo, hi = card7()
    for name, (p, q, cs) in rows.items():
        w = make_protocol(name).negotiate(seller, buyer, lo, hi).terms
        assert (A_ + B_ * w) / (2 * B_) == pytest.approx(p, rel=1e-10)
        assert (A_ - B_ * w) / 2 == pytest.approx(q, rel=1e-10)
        assert ((A_ - B_ * w) / 2) ** 2 / (2 * B_) == pytest.approx(cs, rel=1e-9)


def test_two_part_tariff_nash_split_reproduces_card_7_fee_800():
    # w = c = 20: p = 60, q = 40, the buyer's profit before the fee is (60 - 20) 40 = 1600
    assert split_pie("nash", 1600.0) == pytest.approx(800.0, rel=1e-12)


# --------------------------------------------------------------------------- closed forms in general


@given(markets, st.floats(0.02, 0.98))
def test_asymmetric_nash_over_w_is_c_plus_alpha_A_over_2b(market, alpha):
    a, b, c = market
    seller, buyer, lo, hi = card7(a, b, c)
    # max alpha log((w-c)(a-bw)/2) + (1-alpha) log((a-bw)^2/(4b)):
    # alpha/(w-c) = (2-alpha) b/(a-bw)  =>  w = c + alpha (a - b c) / (2b)
    expected = c + alpha * (a - b * c) / (2 * b)
    deal = Nash(power=alpha).negotiate(seller, buyer, lo, hi)
    assert deal.terms == pytest.approx(expected, rel=1e-10, abs=1e-10 * (hi - lo))


@pytest.mark.parametrize(("power", "w"), [(0.0, 20.0), (1.0, 60.0)])
def test_nash_power_0_and_1_are_the_limits_c_and_take_it_or_leave_it(power, w):
    seller, buyer, lo, hi = card7()
    assert Nash(power=power).negotiate(seller, buyer, lo, hi).terms == pytest.approx(w, rel=1e-12)


@given(markets)
def test_kalai_smorodinsky_over_w_is_c_plus_A_over_5b(market):
    a, b, c = market
    seller, buyer, lo, hi = card7(a, b, c)
    # ideal points A^2/(8b) (w = hi) and A^2/(4b) (w = c); equal shares of them:
    # 4b (w - c)(a - b w) = (a - b w)^2  =>  w = c + A / (5b)
    expected = c + (a - b * c) / (5 * b)
    deal = KalaiSmorodinsky().negotiate(seller, buyer, lo, hi)
    assert deal.terms == pytest.approx(expected, rel=1e-10, abs=1e-10 * (hi - lo))


def test_kalai_smorodinsky_ideal_points_respect_the_other_sides_disagreement_payoff():
    # dB = 900: the seller's ideal is max uS s.t. uB >= 900, i.e. w = 40, U_S = 600;
    # U_B = 1600 at w = 20. With v = 100 - w: (80 - v) v / 2 / 600 = (v^2/4 - 900) / 700
    # <=> v^2 - 56 v - 1080 = 0 <=> v = 28 + sqrt(1864), w = 72 - sqrt(1864).
    seller, buyer, lo, hi = card7(buyer={"disagreement": 900.0})
    deal = KalaiSmorodinsky().negotiate(seller, buyer, lo, hi)
    assert deal.terms == pytest.approx(72.0 - math.sqrt(1864.0), rel=1e-10)


def test_take_it_or_leave_it_leaves_the_buyer_exactly_its_disagreement_payoff():
    # (100 - w)^2 / 4 = 900  =>  w = 40, the seller gets (40 - 20)(60)/2 = 600
    seller, buyer, lo, hi = card7(buyer={"disagreement": 900.0})
    deal = TakeItOrLeaveIt().negotiate(seller, buyer, lo, hi)
    assert deal.terms == pytest.approx(40.0, rel=1e-12)
    assert (deal.seller_payoff, deal.buyer_payoff) == pytest.approx((600.0, 900.0), rel=1e-12)


@pytest.mark.parametrize("name", ["take_it_or_leave_it", "nash", "kalai_smorodinsky"])
def test_answers_ignore_the_dominated_part_of_the_interval(name):
    # On w in [60, 100] both payoffs fall: nothing there is Pareto-efficient.
    seller, buyer, lo, hi = card7()
    narrow = make_protocol(name).negotiate(seller, buyer, lo, hi).terms
    wide = make_protocol(name).negotiate(seller, buyer, lo, 100.0).terms
    assert wide == pytest.approx(narrow, rel=1e-10)


# --------------------------------------------------------------------------- Rubinstein


@given(discounts, discounts, st.floats(1.0, 1e4))
def test_rubinstein_on_a_transferable_pie_gives_the_seller_1_minus_dB_over_1_minus_dS_dB(
    delta_s, delta_b, pie
):
    seller, buyer = pie_parties(pie, delta_s=delta_s, delta_b=delta_b)
    deal = Rubinstein().negotiate(seller, buyer, 0.0, pie)
    share = (1 - delta_b) / (1 - delta_s * delta_b)
    assert deal.seller_payoff == pytest.approx(share * pie, rel=1e-10, abs=1e-10 * pie)
    assert deal.buyer_payoff == pytest.approx((1 - share) * pie, rel=1e-9, abs=1e-10 * pie)
    assert deal.rounds == 1 and [o.proposer for o in deal.history] == ["seller"]


@given(discounts, discounts, st.floats(0.0, 30.0), st.floats(0.0, 30.0))
def test_rubinstein_splits_the_surplus_above_the_disagreement_payoffs(delta_s, delta_b, d_s, d_b):
    seller, buyer = pie_parties(100.0, delta_s=delta_s, delta_b=delta_b, d_s=d_s, d_b=d_b)
    deal = Rubinstein().negotiate(seller, buyer, 0.0, 100.0)
    share = (1 - delta_b) / (1 - delta_s * delta_b)
    assert deal.terms == pytest.approx(d_s + share * (100.0 - d_s - d_b), rel=1e-10, abs=1e-9)


def test_rubinstein_closed_form_holds_for_a_nonlinear_transferable_pie():
    # uS = x^2, uB = 9 - x^2 on [0, 3]: x^2 = 9 (1 - 0.7) / (1 - 0.8 * 0.7)
    seller = Party(lambda x: x**2, discount=0.8)
    buyer = Party(lambda x: 9 - x**2, discount=0.7)
    deal = Rubinstein().negotiate(seller, buyer, 0.0, 3.0)
    assert deal.terms == pytest.approx(math.sqrt(9 * 0.3 / 0.44), rel=1e-12)


def test_rubinstein_with_one_round_is_take_it_or_leave_it():
    seller, buyer, lo, hi = card7()
    assert Rubinstein(deadline=1).negotiate(seller, buyer, lo, hi).terms == pytest.approx(60.0)


def test_rubinstein_two_rounds_leaves_the_buyer_its_discounted_last_round_payoff():
    # Round 1: the buyer offers w = 20 (seller gets dS = 0, buyer 1600). Round 0: the
    # seller leaves the buyer 0.9 * 1600: (100 - w)^2 / 4 = 1440 => w = 100 - 80 sqrt(0.9).
    seller, buyer, lo, hi = card7()
    deal = Rubinstein(deadline=2).negotiate(seller, buyer, lo, hi)
    assert deal.terms == pytest.approx(100.0 - 80.0 * math.sqrt(0.9), rel=1e-12)
    assert deal.buyer_payoff == pytest.approx(1440.0, rel=1e-12)


def test_rubinstein_backward_induction_reaches_the_stationary_equilibrium_of_card_7():
    # Infinite-horizon SPE: the seller offers x*, the buyer y*, each leaving the other
    # exactly its discounted value: uB(x*) = d uB(y*) and uS(y*) = d uS(x*).
    # From the first: (100 - y*) = (100 - x*) / sqrt(d).
    delta = 0.9
    seller, buyer, lo, hi = card7(seller={"discount": delta}, buyer={"discount": delta})
    x = Rubinstein().negotiate(seller, buyer, lo, hi).terms
    y = 100.0 - (100.0 - x) / math.sqrt(delta)
    assert (y - 20) * (100 - y) / 2 == pytest.approx(delta * (x - 20) * (100 - x) / 2, rel=1e-9)
    assert 40.0 < x < 60.0  # first-mover advantage over the Nash point


def test_rubinstein_on_the_card_7_frontier_tends_to_nash_w_40_as_discounts_tend_to_1():
    distances = []
    for delta, deadline in ((0.9, 200), (0.99, 4000), (0.999, 30000)):
        seller, buyer, lo, hi = card7(seller={"discount": delta}, buyer={"discount": delta})
        w = Rubinstein(deadline=deadline).negotiate(seller, buyer, lo, hi).terms
        distances.append(abs(w - 40.0))
    assert distances[0] > distances[1] > distances[2]
    assert distances[2] < 0.01 * 40.0


# --------------------------------------------------------------------------- alternating offers


def test_alternating_offers_linear_vs_linear_agrees_before_the_deadline():
    seller, buyer, lo, hi = card7()
    deal = AlternatingOffers(deadline=20).negotiate(seller, buyer, lo, hi)
    assert deal.agreed and 1 <= deal.rounds <= 20
    assert len(deal.history) == deal.rounds
    last = deal.history[-1]
    assert (deal.terms, deal.seller_payoff, deal.buyer_payoff) == (
        last.terms,
        last.seller_payoff,
        last.buyer_payoff,
    )
    assert lo <= deal.terms <= hi


def test_alternating_offers_first_offers_are_the_utopia_and_the_linear_target():
    # t = 0: the seller asks its utopia 800 (w = 60); t = 1: the buyer asks
    # 1600 - 1600 * 1/19 (linear from its utopia 1600 to 0 over 19 rounds).
    seller, buyer, lo, hi = card7()
    first, second = AlternatingOffers(deadline=20).negotiate(seller, buyer, lo, hi).history[:2]
    assert first.terms == pytest.approx(60.0) and first.seller_payoff == pytest.approx(800.0)
    assert second.buyer_payoff == pytest.approx(1600.0 * 18 / 19, rel=1e-4)


CONCESSION_PAIRS = [(s, b) for s in negotiation.CONCESSIONS for b in negotiation.CONCESSIONS]


@pytest.mark.parametrize(("seller_tactic", "buyer_tactic"), CONCESSION_PAIRS)
def test_alternating_offers_alternate_proposers_and_concede_monotonically(
    seller_tactic, buyer_tactic
):
    seller, buyer, lo, hi = card7(
        seller={"concession": seller_tactic}, buyer={"concession": buyer_tactic}
    )
    deal = AlternatingOffers(deadline=20).negotiate(seller, buyer, lo, hi)
    history = deal.history
    assert [o.round for o in history] == list(range(len(history)))
    assert all(o.proposer == ("seller" if o.round % 2 == 0 else "buyer") for o in history)
    own_s = [o.seller_payoff for o in history if o.proposer == "seller"]
    own_b = [o.buyer_payoff for o in history if o.proposer == "buyer"]
    assert all(later <= earlier + 1e-9 for earlier, later in zip(own_s, own_s[1:], strict=False))
    assert all(later <= earlier + 1e-9 for earlier, later in zip(own_b, own_b[1:], strict=False))
    # nobody settles below its disagreement payoff (0 here)
    assert deal.seller_payoff >= -1e-9 and deal.buyer_payoff >= -1e-9


def test_boulware_against_a_conceder_ends_nearer_the_boulware_sides_utopia():
    def outcome(seller_tactic: str, buyer_tactic: str) -> Agreement:
        seller, buyer, lo, hi = card7(
            seller={"concession": seller_tactic}, buyer={"concession": buyer_tactic}
        )
        return AlternatingOffers(deadline=20).negotiate(seller, buyer, lo, hi)

    linear = outcome("linear", "linear")
    tough_seller = outcome("boulware", "conceder")
    tough_buyer = outcome("conceder", "boulware")
    assert tough_seller.agreed and tough_buyer.agreed
    assert 800.0 - tough_seller.seller_payoff < 800.0 - linear.seller_payoff  # utopia 800
    assert 1600.0 - tough_buyer.buyer_payoff < 1600.0 - linear.buyer_payoff  # utopia 1600


def test_tit_for_tat_concedes_what_the_opponent_conceded_in_its_last_move():
    seller, buyer, lo, hi = card7(seller={"concession": "tit_for_tat"})
    history = AlternatingOffers(deadline=20).negotiate(seller, buyer, lo, hi).history
    sellers = [o.seller_payoff for o in history if o.proposer == "seller"]
    buyers = [o.buyer_payoff for o in history if o.proposer == "buyer"]
    assert sellers[0] == pytest.approx(800.0) and sellers[1] == pytest.approx(800.0)
    # the linear buyer concedes 2 * 1600 / 19 per move; the seller mirrors it a move later
    for k in range(2, len(sellers)):
        conceded_by_buyer = buyers[k - 2] - buyers[k - 1]
        assert conceded_by_buyer == pytest.approx(2 * 1600 / 19, rel=1e-3)
        assert sellers[k - 1] - sellers[k] == pytest.approx(conceded_by_buyer, rel=1e-3)


def test_alternating_offers_break_down_when_no_term_gives_both_their_disagreement_payoffs():
    # uS = 800 only at w = 60, where uB = 400 < 800: no w gives both 800.
    seller, buyer, lo, hi = card7(seller={"disagreement": 800.0}, buyer={"disagreement": 800.0})
    deal = AlternatingOffers(deadline=20).negotiate(seller, buyer, lo, hi)
    assert not deal.agreed and deal.terms is None
    assert (deal.seller_payoff, deal.buyer_payoff) == (800.0, 800.0)
    assert deal.rounds == 20 and len(deal.history) == 20


@pytest.mark.parametrize("name", sorted(PROTOCOLS))
def test_every_protocol_breaks_down_to_the_disagreement_payoffs(name):
    seller, buyer, lo, hi = card7(seller={"disagreement": 800.0}, buyer={"disagreement": 800.0})
    deal = make_protocol(name).negotiate(seller, buyer, lo, hi)
    assert not deal.agreed and deal.terms is None and deal.protocol == name
    assert (deal.seller_payoff, deal.buyer_payoff) == (800.0, 800.0)


@pytest.mark.parametrize(
    ("seller_tactic", "buyer_tactic"), CONCESSION_PAIRS[:3] + [("conceder", "boulware")]
)
def test_round_by_round_and_vectorized_alternating_offers_agree(seller_tactic, buyer_tactic):
    seller, buyer, lo, hi = card7(
        seller={"concession": seller_tactic}, buyer={"concession": buyer_tactic}
    )
    protocol = AlternatingOffers(deadline=20)
    frontier = negotiation._Frontier(seller, buyer, lo, hi, protocol.grid)
    fast = protocol.negotiate(seller, buyer, lo, hi)
    slow = protocol._sequential(seller, buyer, frontier, (800.0, 1600.0))
    assert fast == slow


def test_alternating_offers_run_at_least_thousands_per_second():
    seller, buyer, lo, hi = card7()
    protocol = AlternatingOffers(deadline=20)
    start = time.perf_counter()
    for _ in range(2000):
        protocol.negotiate(seller, buyer, lo, hi)
    # the benchmark target is 10,000/s; this guards against gross regressions only
    assert time.perf_counter() - start < 1.0


# --------------------------------------------------------------------------- split_pie


# pie 100, seller power 0.3, discounts 0.9 (seller) and 0.8 (buyer), disagreement 10 / 20:
# surplus 100 - 10 - 20 = 70
SPLITS = {
    "take_it_or_leave_it": 100 - 20,
    "nash": 10 + 0.3 * 70,
    "kalai_smorodinsky": 10 + 70 / 2,
    "rubinstein": 10 + (1 - 0.8) / (1 - 0.9 * 0.8) * 70,  # 10 + 50
    # linear targets 80 - 70 t/19 (seller) and 90 - 70 t/19 (buyer); the responder
    # accepts once the offer is no worse than its own next target: 2t + 1 >= 19,
    # first at t = 9 (the buyer's offer): the seller gets 10 + 70 * 9/19 = 820/19
    "alternating_offers": 820 / 19,
}


@pytest.mark.parametrize(("name", "expected"), sorted(SPLITS.items()))
def test_split_pie_by_hand(name, expected):
    got = split_pie(name, 100.0, 0.3, 0.9, 0.8, 10.0, 20.0)
    assert got == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("name", sorted(PROTOCOLS))
def test_split_pie_is_what_the_protocol_negotiates_over_the_pie(name):
    seller, buyer = pie_parties(100.0, delta_s=0.9, delta_b=0.8, d_s=10.0, d_b=20.0)
    deal = make_protocol(name, power=0.3).negotiate(seller, buyer, 0.0, 100.0)
    assert deal.terms == pytest.approx(SPLITS[name], rel=1e-9)
    assert deal.seller_payoff + deal.buyer_payoff == pytest.approx(100.0, rel=1e-12)


def test_split_pie_without_a_surplus_is_no_agreement():
    with pytest.raises(NoAgreement):
        split_pie("nash", 25.0, disagreement_seller=10.0, disagreement_buyer=20.0)
    assert (
        split_pie("alternating_offers", 30.0, disagreement_seller=10.0, disagreement_buyer=20.0)
        == 10.0
    )


@settings(max_examples=30)
@given(st.floats(0.0, 1.0), discounts, discounts)
def test_split_pie_parts_lie_between_the_disagreement_payoffs_and_the_whole_surplus(
    power, delta_s, delta_b
):
    for name in PROTOCOLS:
        part = split_pie(name, 50.0, power, delta_s, delta_b, 5.0, 15.0)
        assert 5.0 - 1e-9 <= part <= 50.0 - 15.0 + 1e-9


# --------------------------------------------------------------------------- API


def test_registry_holds_the_five_protocols_and_make_protocol_builds_them():
    assert set(PROTOCOLS) == {
        "take_it_or_leave_it",
        "nash",
        "kalai_smorodinsky",
        "rubinstein",
        "alternating_offers",
    }
    assert make_protocol("nash", power=0.3) == Nash(power=0.3)
    assert make_protocol("alternating_offers", deadline=7) == AlternatingOffers(deadline=7)
    assert make_protocol("rubinstein", deadline=7) == Rubinstein()
    assert make_protocol("rubinstein", rubinstein_deadline=7) == Rubinstein(deadline=7)
    assert make_protocol("Kalai-Smorodinsky") == KalaiSmorodinsky()
    with pytest.raises(ValueError, match="unknown bargaining protocol"):
        make_protocol("auction")


def test_register_adds_a_protocol_that_make_protocol_finds(monkeypatch):
    monkeypatch.setattr(negotiation, "PROTOCOLS", dict(PROTOCOLS))

    @register
    @dataclasses.dataclass(frozen=True)
    class Midpoint(Protocol):
        name = "midpoint"

        def negotiate(self, seller, buyer, lo, hi):
            x = (lo + hi) / 2
            us, ub = float(seller.payoff(np.array([x]))[0]), float(buyer.payoff(np.array([x]))[0])
            return Agreement(True, x, us, ub, 0, (), self.name)

    seller, buyer, lo, hi = card7()
    assert make_protocol("midpoint").negotiate(seller, buyer, lo, hi).terms == 40.0
    with pytest.raises(ValueError, match="already registered"):
        register(type("Other", (Protocol,), {"name": "midpoint"}))


@pytest.mark.parametrize(
    "kwargs",
    [{"concession": "stubborn"}, {"discount": 0.0}, {"discount": 1.5}, {"disagreement": math.nan}],
)
def test_party_rejects_bad_parameters(kwargs):
    with pytest.raises(ValueError):
        Party(lambda x: x, **kwargs)


def test_protocols_reject_bad_parameters_and_intervals():
    seller, buyer, _, _ = card7()
    with pytest.raises(ValueError):
        Nash(power=1.5)
    with pytest.raises(ValueError):
        AlternatingOffers(deadline=0)
    with pytest.raises(ValueError):
        Rubinstein(deadline=0)
    with pytest.raises(ValueError):
        Nash().negotiate(seller, buyer, 60.0, 20.0)


def test_records_are_immutable():
    seller, buyer, lo, hi = card7()
    deal = Nash().negotiate(seller, buyer, lo, hi)
    with pytest.raises(dataclasses.FrozenInstanceError):
        deal.terms = 0.0  # type: ignore[misc]
