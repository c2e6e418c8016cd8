"""Eyeflow worker fleet: the Celery side (tasks, providers, caches, rules and conditions)."""
