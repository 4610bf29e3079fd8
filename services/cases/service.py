"""Rules and projectors of cases (being written)."""
