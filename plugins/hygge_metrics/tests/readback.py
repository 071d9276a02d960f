"""Reading metrics back: the test Pushgateway, and samples parsed with prometheus_client's
own text parser."""

from __future__ import annotations

import urllib.request
import uuid

from prometheus_client.parser import text_string_to_metric_families


def samples(text: str, **match: str) -> dict[tuple[str, str], float]:
    """`{(sample name, flow): value}` of hygge's samples in an exposition text whose labels
    include `match`, read with prometheus_client's own parser."""
    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name.startswith("hygge_flow_") and match.items() <= s.labels.items():
                found[(s.name, s.labels["flow"])] = s.value
    return found


def labels_of(text: str, name: str, flow: str) -> dict[str, str]:
    """The labels of sample `name` of `flow`."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and s.labels.get("flow") == flow:
                return dict(s.labels)
    raise AssertionError(f"no sample {name} for flow {flow}")


class Gateway:
    """The test Pushgateway, and a job name of this test's own."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.job = f"hygge-test-{uuid.uuid4().hex[:10]}"

    def text(self) -> str:
        """Everything the gateway serves now."""
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=10) as response:
            return response.read().decode()

    def delete(self, flow: str) -> None:
        """Forget one pushed group."""
        group = f"{self.url}/metrics/job/{self.job}/flow/{flow}"
        urllib.request.urlopen(urllib.request.Request(group, method="DELETE"), timeout=10)
