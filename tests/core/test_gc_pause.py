from __future__ import annotations

import gc

import pytest

from osiris.core.gc_pause import gc_paused


@gc_paused
def collector_state(fail: bool = False) -> bool:
    if fail:
        raise RuntimeError("failed")
    return gc.isenabled()


def test_the_collector_is_paused_inside_and_resumed_after() -> None:
    assert gc.isenabled()
    assert collector_state() is False
    assert gc.isenabled()
    with pytest.raises(RuntimeError):
        collector_state(fail=True)
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    try:
        assert collector_state() is False
        assert not gc.isenabled()
    finally:
        gc.enable()
