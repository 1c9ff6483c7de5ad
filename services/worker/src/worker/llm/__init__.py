"""Model providers behind the ``LLM`` port."""
