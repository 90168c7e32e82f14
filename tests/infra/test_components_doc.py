"""docs/components.md is generated from the code and every argument is documented."""

from __future__ import annotations

import dataclasses

import pytest

from . import components_doc as doc

ARG_TYPES = [t for _, args, extra in doc.COMPONENTS for t in (args, *extra)] + doc.SHARED


def test_the_doc_is_what_the_code_says() -> None:
    assert doc.DOC.read_text() == doc.generate(), (
        "docs/components.md is stale: python -m tests.infra.components_doc --write")


@pytest.mark.parametrize("args", ARG_TYPES, ids=lambda t: t.__name__)
def test_every_arg_is_a_frozen_keyword_dataclass_with_a_docstring(args: type) -> None:
    assert dataclasses.is_dataclass(args)
    params = args.__dataclass_params__  # type: ignore[attr-defined]
    assert params.frozen and args.__dataclass_fields__, args.__name__  # type: ignore[attr-defined]
    docs = doc._field_docs(args)
    undocumented = [f.name for f in dataclasses.fields(args) if not docs.get(f.name)]
    assert undocumented == [], f"{args.__name__}: fields without a docstring {undocumented}"
    assert (args.__doc__ or "").strip(), args.__name__


@pytest.mark.parametrize("component", [c for c, _, _ in doc.COMPONENTS], ids=lambda c: c.__name__)
def test_every_output_is_documented(component: type) -> None:
    outputs = doc._field_docs(component)
    assert outputs, f"{component.__name__} declares no outputs"
    assert [name for name, text in outputs.items() if not text] == []


def test_the_top_level_component_needs_no_argument() -> None:
    required = [f.name for f in dataclasses.fields(doc.log_aggregator.LogAggregatorArgs)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    assert required == []


def test_a_field_without_a_docstring_is_caught() -> None:
    @dataclasses.dataclass(frozen=True, kw_only=True)
    class Sloppy:
        """Has one undocumented field."""

        documented: int = 1
        """Yes."""
        bare: int = 2

    assert doc._field_docs(Sloppy) == {"documented": "Yes.", "bare": ""}
