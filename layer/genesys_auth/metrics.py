"""CloudWatch metrics in Embedded Metric Format, off unless enabled.

Emitted through Powertools' ``EphemeralMetrics`` (not ``Metrics``, whose state is class-level and
shared with the user's own metrics). One EMF line per event, on rare events only (mint, degrade,
401 replay, rate limit): the warm hit path emits nothing.
"""

from __future__ import annotations

import threading
from typing import Any


class Metrics:
    def __init__(self, *, enabled: bool, namespace: str = "GenesysAuth", service: str = "genesys_auth") -> None:
        self.enabled = enabled
        self.namespace = namespace
        self.service = service
        self._lock = threading.Lock()
        #: Every event counted in this process, emitted or not (tests and the demo read these).
        self.counts: dict[str, int] = {}

    def count(self, name: str, value: int = 1) -> None:
        with self._lock:
            self.counts[name] = self.counts.get(name, 0) + value
        if self.enabled:
            self._emit(name, value)

    def _emit(self, name: str, value: int) -> None:
        from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

        metrics: Any = EphemeralMetrics(namespace=self.namespace, service=self.service)
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
        metrics.flush_metrics()
