"""Modality's provider simulator: an OpenAI-compatible server that stands in for LLM
providers in tests, demos and benchmarks. It is a simulator, not a model."""
