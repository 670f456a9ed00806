"""The Hugging Face Hub, for what is not a local folder: fetch a repo as a folder, push a folder as a repo.

The token comes from the usual environment / credential store (``HF_TOKEN``, ``hf auth login``) and is never
printed or written. Offline (no network, or ``HF_HUB_OFFLINE=1``), a Hub id fails in one line.
"""

from __future__ import annotations

import re
from pathlib import Path

from audiomlqa.errors import AudioMLQAError, first_line

_REPO_ID = re.compile(r"^[\w.-]+/[\w.-]+$")


def looks_like_repo_id(name: str) -> bool:
    return bool(_REPO_ID.match(name)) and not Path(name).exists()


def fetch(
    name: str,
    what: str,
    *,
    repo_type: str = "model",
    allow_patterns: list[str] | None = None,
    revision: str | None = None,
) -> Path:
    """``name`` as a local folder: itself when it is one, else a snapshot of the Hub repo of that id (of the files
    ``allow_patterns`` match, when given: a model's configs without its weights)."""
    if Path(name).is_dir():
        return Path(name)
    if not looks_like_repo_id(name):
        raise AudioMLQAError(f"{what} {name!r} not found: give a folder or a Hub id (user/name)")
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise AudioMLQAError("loading from the Hub needs huggingface_hub: pip install 'audiomlqa[hf]'") from None
    try:
        return Path(snapshot_download(name, repo_type=repo_type, allow_patterns=allow_patterns, revision=revision))
    except Exception as e:  # noqa: BLE001 - offline, missing repo, auth: many types
        raise AudioMLQAError(
            f"cannot fetch {what} {name!r} from the Hub ({e.__class__.__name__}: {first_line(e)}); "
            "offline, give a local folder"
        ) from None


def push(
    folder: Path, repo_id: str, *, repo_type: str, message: str, private: bool = False, only: list[str] | None = None
) -> str:
    """Upload ``folder`` (or just the files ``only`` names, relative to it) as the Hub repo ``repo_id`` (created if
    missing); returns the commit URL."""
    try:
        from huggingface_hub import HfApi
    except ImportError:
        raise AudioMLQAError("pushing to the Hub needs huggingface_hub: pip install 'audiomlqa[hf]'") from None
    api = HfApi()
    try:
        api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
        info = api.upload_folder(
            folder_path=str(folder), repo_id=repo_id, repo_type=repo_type, commit_message=message, allow_patterns=only
        )
    except Exception as e:  # network, auth and validation errors come in many types: one line, no token
        raise AudioMLQAError(
            f"could not push to the Hub repo {repo_id!r} ({e.__class__.__name__}: {first_line(e)}); "
            f"everything is complete in {folder}: retry, or upload that folder later"
        ) from None
    return str(getattr(info, "commit_url", info))
