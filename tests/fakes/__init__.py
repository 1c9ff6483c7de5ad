"""Fake vendor APIs on loopback, driven through the vendors' real SDKs."""
