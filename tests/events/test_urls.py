"""Database URLs: the PostgreSQL spellings users copy from their tools, and clear refusals."""

from __future__ import annotations

import pytest

from aipartnerupflow import DatabaseConfigError, create_session
from aipartnerupflow.events.store.urls import resolve_url


@pytest.mark.parametrize(
    "url",
    ["postgresql://u@h/db", "postgres://u@h/db", "postgresql+psycopg://u@h/db"],
)
def test_plain_postgresql_urls_use_psycopg_3(url: str) -> None:
    assert resolve_url(url).drivername == "postgresql+psycopg"


def test_a_named_driver_is_kept() -> None:
    assert resolve_url("postgresql+psycopg2://u@h/db").drivername == "postgresql+psycopg2"
    assert resolve_url("sqlite:///x.db").drivername == "sqlite"


@pytest.mark.parametrize("url", ["not a url", "nosuchdb://x/y"])
def test_unusable_urls_are_refused_with_a_typed_error(url: str) -> None:
    with pytest.raises(DatabaseConfigError):
        create_session(url)


def test_a_missing_driver_names_the_extra_to_install() -> None:
    # pg8000 is a real SQLAlchemy dialect whose driver the project never installs.
    with pytest.raises(DatabaseConfigError, match="pg8000"):
        create_session("postgresql+pg8000://u@127.0.0.1:1/db")
