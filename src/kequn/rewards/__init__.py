"""e+ membership and rewards (数字化权益): points ledger, growth value and tiers, reward catalogue,
blind boxes, and reward-budget allocation driven by reward-sensitivity (uplift) scores."""
