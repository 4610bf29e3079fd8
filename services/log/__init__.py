"""The auditor endpoints over the transparency log."""
