"""Eyeflow gateway: the thin FastAPI side that authenticates, validates, enqueues and reads status."""
