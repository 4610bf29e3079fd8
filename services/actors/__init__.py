"""Actors (miners, partnerships, centres, buyers, labs, auditors, regulators), their keys,
tokens, off-log personal data, and mine sites."""
