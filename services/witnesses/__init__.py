"""Witnesses: who may cosign the log's checkpoints (registered through the log), and the
cosignatures they sent (kept off the log, shown with the checkpoints)."""
