"""Markdown (what agents write) into each platform's dialect."""
