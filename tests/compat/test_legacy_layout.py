from __future__ import annotations

from datetime import datetime, timezone
from pathlib import PurePosixPath

import pytest

from osiris.compat.legacy_layout import (
    SessionKind,
    classify_session,
    is_user_output,
    new_session_id,
    session_time,
)

UTC = timezone.utc

# legacy-layout.md §2: every id form, with the start time it encodes.
SESSION_IDS = [
    ("compile_1759838400123", SessionKind.COMPILE, datetime(2025, 10, 7, 12, 0, 0, 123000, UTC)),
    ("run_1759838400123", SessionKind.RUN, datetime(2025, 10, 7, 12, 0, 0, 123000, UTC)),
    (
        "connections_1759838400000",
        SessionKind.CONNECTIONS,
        datetime(2025, 10, 7, 12, 0, tzinfo=UTC),
    ),
    (
        "components_validate_1759838400000",
        SessionKind.COMPONENTS_VALIDATE,
        datetime(2025, 10, 7, 12, 0, tzinfo=UTC),
    ),
    (
        "prompts_build_context_1759838400000",
        SessionKind.PROMPTS_BUILD_CONTEXT,
        datetime(2025, 10, 7, 12, 0, tzinfo=UTC),
    ),
    ("chat_1759838400", SessionKind.CHAT, datetime(2025, 10, 7, 12, 0, tzinfo=UTC)),
    (
        "ephemeral_validate_1795618203",
        SessionKind.EPHEMERAL,
        datetime.fromtimestamp(1795618203, UTC),
    ),
    (
        "ephemeral_run_check_1759838400",
        SessionKind.EPHEMERAL,
        datetime(2025, 10, 7, 12, 0, tzinfo=UTC),
    ),
    (
        "test_validation_orders_20251007_120000",
        SessionKind.TEST_VALIDATION,
        datetime(2025, 10, 7, 12, 0, tzinfo=UTC),
    ),
    (
        "test_validation_orders_check_v2_20251007_120001",
        SessionKind.TEST_VALIDATION,
        datetime(2025, 10, 7, 12, 0, 1, tzinfo=UTC),
    ),
    ("20251007_120000_0a1b2c3d", SessionKind.GENERIC, datetime(2025, 10, 7, 12, 0, tzinfo=UTC)),
]

NOT_SESSION_IDS = [
    "run_abc",
    "run_",
    "run",
    "compile_12x",
    "aiop",
    "index",
    "chat_",
    "ephemeral_1759838400",
    "test_validation_20251007_120000",
    "20251007_120000_0A1B2C3D",
    "20251007_120000_0a1b2c",
    "20251307_120000_0a1b2c3d_extra",
    "Run_1759838400123",
    ".last_compile.json",
]


@pytest.mark.parametrize(("name", "kind", "_time"), SESSION_IDS)
def test_every_session_id_form_is_classified_by_its_prefix(
    name: str, kind: SessionKind, _time: datetime
) -> None:
    assert classify_session(name) is kind


@pytest.mark.parametrize("name", NOT_SESSION_IDS)
def test_names_outside_the_spec_are_unknown(name: str) -> None:
    assert classify_session(name) is SessionKind.UNKNOWN
    assert session_time(name) is None


@pytest.mark.parametrize(("name", "_kind", "moment"), SESSION_IDS)
def test_session_time_is_read_from_the_id(name: str, _kind: SessionKind, moment: datetime) -> None:
    assert session_time(name) == moment


def test_session_time_of_an_impossible_date_is_none() -> None:
    name = "20251399_250000_0a1b2c3d"
    assert classify_session(name) is SessionKind.GENERIC
    assert session_time(name) is None


@pytest.mark.parametrize("kind", [SessionKind.COMPILE, SessionKind.RUN])
def test_new_session_id_round_trips(kind: SessionKind) -> None:
    now = datetime(2025, 10, 7, 12, 0, 0, 123999, UTC)
    session_id = new_session_id(kind, now)
    assert session_id == f"{kind.value}_1759838400123"
    assert classify_session(session_id) is kind
    assert session_time(session_id) == now.replace(microsecond=123000)


@pytest.mark.parametrize(
    "kind", [SessionKind.CHAT, SessionKind.EPHEMERAL, SessionKind.GENERIC, SessionKind.UNKNOWN]
)
def test_new_session_id_refuses_kinds_with_other_id_forms(kind: SessionKind) -> None:
    with pytest.raises(ValueError, match=kind.value):
        new_session_id(kind, datetime.now(UTC))


@pytest.mark.parametrize(
    ("rel", "expected"),
    [
        ("dist", True),
        ("dist/logs/index.html", True),
        ("exports/orders.csv", True),
        ("run_1759838400123.zip", True),
        ("logs/run_1759838400123.zip", True),
        ("logs/run_1759838400123/artifacts/out.zip", False),
        ("logs", False),
        ("compiled", False),
        ("distribution", False),
    ],
)
def test_user_outputs(rel: str, expected: bool) -> None:
    assert is_user_output(PurePosixPath(rel)) is expected
