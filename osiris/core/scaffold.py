"""`osiris init`: a project folder with the contract layout, osiris.yaml and .gitignore."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from osiris.core.fs_config import CONFIG_FILENAME, build_config
from osiris.core.fs_paths import FilesystemContract
from osiris.core.fsio import atomic_write_bytes
from osiris.core.gitignore import git_init, git_toplevel, ignore_patterns, plan_ignore
from osiris.errors import UsageError

# The sample `osiris init` writes unless --bare: a pipeline and its data, as the README's
# quick start uses them (shipped under osiris/templates/sample/).
SAMPLE_FILES = ("pipelines/my_pipeline.yaml", "data/sales.csv")


def template_bytes() -> bytes:
    """The commented osiris.yaml `osiris init` writes, shipped as osiris/templates/osiris.yaml."""
    return (resources.files("osiris") / "templates" / CONFIG_FILENAME).read_bytes()


def sample_bytes(rel: str) -> bytes:
    """One file of the sample project (`SAMPLE_FILES`)."""
    return (resources.files("osiris") / "templates" / "sample" / rel).read_bytes()


@dataclass(frozen=True)
class InitReport:
    """What `init_project` did: each folder or file it created, and how it left the rest."""

    root: Path
    created: tuple[Path, ...]
    config: str  # created | rewritten | unchanged
    backup: Path | None
    gitignore: str  # created | updated | unchanged
    git_initialized: bool


def _free_backup(config_path: Path) -> Path:
    candidate = config_path.with_name(config_path.name + ".bak")
    number = 1
    while candidate.exists():
        candidate = config_path.with_name(f"{config_path.name}.bak.{number}")
        number += 1
    return candidate


def init_project(
    root: Path, *, force: bool = False, git: bool = False, sample: bool = True
) -> InitReport:
    """Create the contract layout in `root`; never deletes, and refuses before writing anything.

    An existing osiris.yaml is refused unless `force`, which rewrites it from the template after
    copying it to the first free `osiris.yaml.bak[.N]`. With `sample`, the sample pipeline
    and its data are written where no file of that name exists (`pipelines/` holds the
    sample only when the contract's pipelines folder is `pipelines`).
    """
    root = Path(root).resolve()
    if root.exists() and not root.is_dir():
        raise UsageError("not a folder", path=root, hint="name a new or existing folder")
    config_path = root / CONFIG_FILENAME
    if config_path.exists() and not force:
        raise UsageError(
            "already an Osiris project",
            path=config_path,
            hint="pass --force to rewrite osiris.yaml from the template; "
            "the current file is kept as osiris.yaml.bak",
        )
    if git and shutil.which("git") is None:
        raise UsageError("git is not installed", hint="install git, or drop --git")
    template = template_bytes()
    config, _ = build_config(yaml.safe_load(template), config_file=None, env={})
    contract = FilesystemContract(config, root)
    # Planned before any write, so a damaged .gitignore refuses the whole init.
    ignore = plan_ignore(root, ignore_patterns(contract, root))

    created: list[Path] = []
    folders = [
        root,
        contract.pipelines_dir,
        contract.build_dir,
        contract.aiop_dir,
        contract.run_logs_dir,
        contract.sessions_dir,
        contract.cache_dir,
        contract.index_dir,
    ]
    for folder in folders:
        if not folder.exists():
            folder.mkdir(parents=True)
            created.append(folder)

    backup = None
    if not config_path.exists():
        atomic_write_bytes(config_path, template)
        created.append(config_path)
        config_status = "created"
    elif config_path.read_bytes() == template:
        config_status = "unchanged"
    else:
        backup = _free_backup(config_path)
        shutil.copy2(config_path, backup)  # keeps the user's mode and mtime
        atomic_write_bytes(config_path, template)
        config_status = "rewritten"

    if sample:
        for rel in SAMPLE_FILES:
            target = root / rel
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_bytes(target, sample_bytes(rel))
                created.append(target)

    ignore.write()
    git_initialized = git and git_toplevel(root) is None
    if git_initialized:
        git_init(root)
    return InitReport(
        root=root,
        created=tuple(created),
        config=config_status,
        backup=backup,
        gitignore=ignore.status,
        git_initialized=git_initialized,
    )
