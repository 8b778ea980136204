"""docs/config.md's capability table says what each shipped backend really declares."""

from __future__ import annotations

from pathlib import Path

import pytest

from dtrain_jupyter.backends.base import CAPABILITIES
from dtrain_jupyter.backends.kubernetes import KubernetesBackend
from dtrain_jupyter.backends.local import LocalBackend

DOC = Path(__file__).resolve().parent.parent.parent / "docs" / "config.md"


def documented() -> dict[str, tuple[str, str]]:
    """Capability -> (local column, kubernetes column) of the table under "Backend capabilities"."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("### Backend capabilities", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, tuple[str, str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].startswith("`"):
            rows[cells[0].strip("`")] = (cells[1], cells[2])
    return rows


def test_every_capability_has_a_row_and_nothing_else_does() -> None:
    assert sorted(documented()) == sorted(CAPABILITIES)


@pytest.mark.parametrize("name", CAPABILITIES)
def test_the_columns_say_what_each_backend_declares(name: str, tmp_path: Path) -> None:
    local_says, kubernetes_says = documented()[name]
    assert (name in LocalBackend(tmp_path / "state", gpus=[]).capabilities) == (local_says == "yes")
    plain = KubernetesBackend().capabilities
    mounted = KubernetesBackend(output_mounts={"claim": str(tmp_path)}).capabilities
    if kubernetes_says == "when `output_mounts` is set":
        assert name not in plain and name in mounted
    else:
        assert kubernetes_says in ("yes", "no")
        assert (name in plain) == (name in mounted) == (kubernetes_says == "yes")
