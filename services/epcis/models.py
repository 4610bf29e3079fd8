"""No tables of its own: the export reads the log and the lots, cases and certificates
tables (see queries.py)."""
