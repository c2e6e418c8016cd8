"""Readings of catalogues, kept per process by a digest of their canonical JSON.

Reading a catalogue (and the prompt prefix it yields) is most of a job's CPU, and a batch of
thousands uses one catalogue: each is read once per process and kept by its digest (so a large
context is not held twice). Readings are immutable, so sharing one between jobs and threads is
safe. Jobs (`rules.catalogue`) and `/cache/status` (`tenant_config.status_report`) share it.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from eyeflow_worker.core.catalogue_model import CatalogueReading
from eyeflow_worker.core.catalogue_reader import read_catalogue

_CACHED_READINGS = 32
_by_digest: OrderedDict[str, CatalogueReading] = OrderedDict()
_lock = threading.Lock()


def cached_reading(context: Mapping[str, Any]) -> CatalogueReading:
    """`read_catalogue(context)`, read once per process per distinct catalogue."""
    canonical = json.dumps(context, sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()
    with _lock:
        reading = _by_digest.get(digest)
        if reading is not None:
            _by_digest.move_to_end(digest)
            return reading
    reading = read_catalogue(json.loads(canonical))
    with _lock:
        _by_digest[digest] = reading
        while len(_by_digest) > _CACHED_READINGS:
            _by_digest.popitem(last=False)
    return reading
