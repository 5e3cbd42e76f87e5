"""Campaigns (营销活动): specs, contact policy, launch, outbox sends, leads, review and playbooks."""
