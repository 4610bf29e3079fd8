"""Pydantic models shared by the service and its clients."""
