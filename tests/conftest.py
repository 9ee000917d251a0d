"""Suite-wide: the per-user cache of parsed osiris.yaml files lives in a temporary folder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

# The database fixtures (postgres_schema, mysql_database) for every test module.
pytest_plugins = ["tests.helpers.databases"]


@pytest.fixture(autouse=True, scope="session")
def _private_user_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    # Reading commands keep parsed osiris.yaml files in $XDG_CACHE_HOME/osiris (see
    # osiris.core.config_cache); the tests, and the processes they start, keep theirs here.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
        yield
