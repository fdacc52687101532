"""Reading /metrics in a test, as Prometheus would."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample


def scrape(text: str) -> dict[str, list[Sample]]:
    """Every sample of an exposition, by the name of its family."""
    return {family.name: list(family.samples)
            for family in text_string_to_metric_families(text)}


def families(text: str) -> dict[str, str]:
    """The type of every family (``counter``, ``gauge``, ``histogram`` …) by name."""
    return {family.name: family.type for family in text_string_to_metric_families(text)}


def sample_names(text: str) -> set[str]:
    """Every series name an exposition has (``…_total``, ``…_bucket`` …)."""
    return {sample.name for family in text_string_to_metric_families(text)
            for sample in family.samples}


def value(text: str, name: str, **labels: str) -> float:
    """The value of the one sample named ``name`` with ``labels`` (0 when none has them)."""
    found = [sample.value for family in text_string_to_metric_families(text)
             for sample in family.samples
             if sample.name == name and all(sample.labels.get(k) == v
                                             for k, v in labels.items())]
    return float(sum(found))
