"""One check shared by the tables of a training config ([training], [model], [data])."""

from __future__ import annotations

from dataclasses import fields

from melodypair.shared.errors import UsageError


def refuse_unknown_settings(table: str, values: dict, cls: type) -> None:
    """Raise UsageError naming the keys of `values` that are not fields of the dataclass `cls`
    (a misspelt setting would otherwise be silently ignored), and the known ones."""
    known = {f.name for f in fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise UsageError(
            f"unknown setting(s) [{table}] {', '.join(sorted(unknown))}; "
            f"known: {', '.join(sorted(known))}"
        )
