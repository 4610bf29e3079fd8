"""Rules and projectors of lots (being written)."""
