"""The embedded drafter: deterministic rules grounded in the capability catalogue, no key, no
network. `providers/offline.py` is the provider that serves it."""
