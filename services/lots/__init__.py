"""Ore and gold lots: deliveries, processing, assays, splits, merges, transfers, exports."""
