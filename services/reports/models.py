"""No tables of its own: the reports read the log and the lots, actors and cases tables
(see queries.py and evidence.py)."""
