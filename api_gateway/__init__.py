"""Eyeflow gateway: the thin FastAPI side — authenticate, validate, enqueue, read status."""
