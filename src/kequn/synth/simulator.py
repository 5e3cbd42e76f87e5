"""The response simulator — the "sandbox" channel of campaigns (public entry point).

    from kequn.synth.simulator import ResponseSimulator
    sim = ResponseSimulator("data/synth", seed=1)
    outcomes = sim.respond(contacts)      # delivered, opened, converted, redeemed, amount
    truth = sim.true_effect(contacts)     # {"arms": {...}, "ate": ..., "ate_between_arms": ...}
    per_contact = sim.expected(contacts)  # true probabilities and uplift per contact

See ``kequn.synth.response`` for the model and docs/synth.md for the API.
"""

from __future__ import annotations

from kequn.synth.response import DELIVERY, OPEN, REDEEM, ResponseSimulator, reward_effects

__all__ = ["DELIVERY", "OPEN", "REDEEM", "ResponseSimulator", "reward_effects"]
