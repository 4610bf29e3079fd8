"""The Altan Ledger core: a verifiable, signed, append-only log with no web framework in it."""
