"""Worlds generated once per test session (generation is the slow part)."""

from __future__ import annotations

from pathlib import Path

import pytest

from distillguard.simulate.world import World, generate, write_world


@pytest.fixture(scope="session")
def small_world() -> World:
    return generate("small", seed=7)


@pytest.fixture(scope="session")
def small_dir(small_world: World, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("small")
    write_world(small_world, out)
    return out


@pytest.fixture(scope="session")
def collective_world() -> World:
    return generate("collective", seed=3, events=40_000)
