"""GS1 EPCIS 2.0 JSON-LD export of the ledger's events (CBV 2.0 vocabulary)."""
