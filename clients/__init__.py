"""What users run: the Python SDK and the `altan` command line."""
