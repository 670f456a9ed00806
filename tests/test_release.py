"""A package ready to release: the scorer installs and runs without torch (``pip install audiomlqa`` alone), the
version is written once, the licences and the citation are there, and the wheel holds what the package reads.

The quick tests run the CLI with the heavy packages hidden (a finder that refuses them, as a venv without the extras
would); the slow ones install the core into a fresh venv from PyPI and build the wheel.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
import yaml
from helpers import assert_one_line

import audiomlqa

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "audiomlqa" / "data" / "mlqa-sample"
HEAVY = ("torch", "transformers", "datasets", "evaluate", "pyarrow", "matplotlib", "huggingface_hub", "accelerate")
APACHE_2_0_SHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"
"""sha256 of https://www.apache.org/licenses/LICENSE-2.0.txt, the standard text."""

HIDE = """
import importlib.abc, runpy, sys
class Hidden(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {hidden!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
sys.meta_path.insert(0, Hidden())
sys.argv = ["audiomlqa", *sys.argv[1:]]
runpy.run_module("audiomlqa", run_name="__main__")
"""


def without_extras(*args, hidden=HEAVY) -> subprocess.CompletedProcess:
    """The CLI as a venv without the extras runs it: the heavy packages cannot be imported."""
    return subprocess.run(
        [sys.executable, "-c", HIDE.format(hidden=set(hidden)), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )


def predictions(tmp_path: Path) -> tuple[Path, Path]:
    """A German predictions file on the packaged sample: some answers right, some half right, some wrong."""
    gold = SAMPLE / "dev" / "dev-context-de-question-de.json"
    ids = [(q["id"], q["answers"][0]["text"]) for a in json.loads(gold.read_text())["data"]
           for p in a["paragraphs"] for q in p["qas"]]  # fmt: skip
    preds = {qid: text if i % 3 else (text.split()[0] if i % 2 else "falsch") for i, (qid, text) in enumerate(ids)}
    path = tmp_path / "predictions.json"
    path.write_text(json.dumps(preds, ensure_ascii=False), encoding="utf-8")
    return path, gold


def repository_score(pred: Path, gold: Path) -> dict:
    from audiomlqa.evaluation import score

    return score([pred], str(gold), lang="de", progress=False).to_dict()


def floats(report: dict) -> dict:
    """The scores of a report (what must be equal), without its provenance (paths, times)."""
    return {"exact_match": report["exact_match"], "f1": report["f1"], "pairs": report["pairs"]}


# -- the core path imports no heavy package ----------------------------------------------------------------------------


def test_score_and_questions_run_without_torch_datasets_or_matplotlib(tmp_path):
    pred, gold = predictions(tmp_path)
    out = without_extras("score", pred, "--dataset", gold, "--lang", "de", "--json")
    assert out.returncode == 0, out.stderr[-3000:]
    assert floats(json.loads(out.stdout)) == floats(repository_score(pred, gold))
    listed = without_extras("questions", SAMPLE, "--languages", "de", "--per-language", "3")
    assert listed.returncode == 0, listed.stderr[-3000:]
    assert [json.loads(line)["pair"] for line in listed.stdout.splitlines()] == ["de"] * 3


def test_a_heavy_command_without_its_extra_names_the_extra_in_one_line(tmp_path):
    recipe = ROOT / "recipes" / "train-tiny-cpu.yaml"
    assert_one_line(without_extras("train-reference", "--recipe", recipe), "torch", "pip install 'audiomlqa[models]'")
    spec = tmp_path / "text.json"
    spec.write_text(json.dumps({"name": "tiny", "kind": "text", "llm": "tiny-random/llm"}))
    assert_one_line(without_extras("score", spec, "--dataset", SAMPLE), "datasets", "pip install 'audiomlqa[hf]'")


# -- one version, the licences, the citation ---------------------------------------------------------------------------


def test_the_version_is_written_once_in_the_package_and_everything_reads_it():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "audiomlqa.__version__"}
    out = subprocess.run([sys.executable, "-m", "audiomlqa", "--version"], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == f"audiomlqa {audiomlqa.__version__}"
    assert yaml.safe_load((ROOT / "CITATION.cff").read_text())["version"] == audiomlqa.__version__
    assert f"## [{audiomlqa.__version__}]" in (ROOT / "CHANGELOG.md").read_text()


def test_the_licence_is_apache_2_0_verbatim_and_notice_names_every_shipped_data_file():
    assert hashlib.sha256((ROOT / "LICENSE").read_bytes()).hexdigest() == APACHE_2_0_SHA256
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0" and set(project["license-files"]) == {"LICENSE", "NOTICE"}
    notice = (ROOT / "NOTICE").read_text()
    data = ROOT / "audiomlqa" / "data"
    for entry in sorted(data.iterdir()):
        for shipped in [entry] if entry.is_file() else [p for p in entry.iterdir() if p.is_file()]:
            named = shipped.relative_to(ROOT).as_posix()
            assert named in notice or f"{entry.relative_to(ROOT).as_posix()}/" in notice, named
    assert "CC-BY-SA-3.0" in notice and "CC-BY-4.0" in notice and "AlpacaEval" in notice


def test_citation_cff_is_valid_1_2_0_and_cites_the_paper_and_mlqa():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software" and cff["license"] == "Apache-2.0"
    assert {"message", "title", "authors"} <= set(cff) and cff["repository-code"].startswith("https://github.com/")
    refs = {r["title"].strip(): r for r in cff["references"]}
    paper = refs[
        "Language-Aware Distillation for Multilingual Instruction-Following Speech LLMs with ASR-Only Supervision"
    ]
    mlqa = refs["MLQA: Evaluating Cross-lingual Extractive Question Answering"]
    assert paper["year"] == 2026 and paper["authors"][0]["family-names"] == "Gopal"
    assert mlqa["year"] == 2020 and mlqa["authors"][0] == {"family-names": "Lewis", "given-names": "Patrick"}
    assert "ACL" in mlqa["conference"]["name"]
    for ref in cff["references"]:
        assert {"type", "title", "authors"} <= set(ref)
    try:
        from cffconvert import Citation
    except ImportError:
        return  # the fields above are what cffconvert's schema requires of them
    Citation((ROOT / "CITATION.cff").read_text()).validate()


# -- a fresh venv, and the wheel (slow: pip and the build take a minute) -----------------------------------------------


def clean_tree(dest: Path) -> Path:
    """The files a fresh clone has (tracked, and new files git does not ignore): a leftover build/ or egg-info of
    this checkout must not leak into what is installed."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], capture_output=True, cwd=ROOT, check=False
    )
    if listed.returncode != 0:
        pytest.skip("not a git checkout: cannot tell a clean tree from build leftovers")
    for name in listed.stdout.decode().split("\0"):
        if name and (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    return dest


OFFLINE = ("Could not find a version", "No matching distribution", "NewConnectionError", "Temporary failure in name",
           "Network is unreachable", "ConnectTimeout", "Failed to establish")  # fmt: skip


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built once from a clean tree: the wheel test reads it and the fresh venv installs it (as
    ``pip install audiomlqa`` from PyPI installs the wheel, not the source tree)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src, dist = clean_tree(tmp / "src"), tmp / "dist"
    try:  # the distribution, not `import build`: a checkout's build/ folder imports as a namespace package
        importlib.metadata.version("build")
        command = [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", dist, src]
    except importlib.metadata.PackageNotFoundError:  # the backend (setuptools) is here; pip builds with it as well
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", dist, src]
    built = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp)
    assert built.returncode == 0, built.stderr[-3000:]
    (path,) = dist.glob(f"audiomlqa-{audiomlqa.__version__}-py3-none-any.whl")
    return path


@pytest.mark.slow
def test_a_fresh_venv_with_only_the_core_scores_like_the_repository_and_has_no_torch(wheel, tmp_path):
    """The venv is made without pip (this pip installs into it with ``--python``): it holds only the core and
    what the core requires from PyPI."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True, timeout=120)
    python, cli = venv / "bin" / "python", venv / "bin" / "audiomlqa"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    install = subprocess.run([sys.executable, "-m", "pip", "--python", python, "install", "-q", wheel],
                             capture_output=True, text=True, env=env, timeout=900)  # fmt: skip
    if install.returncode != 0 and any(s in install.stderr for s in OFFLINE):
        pytest.skip(f"PyPI is unreachable: {install.stderr.strip().splitlines()[-1]}")
    assert install.returncode == 0, install.stderr[-3000:]

    pred, _ = predictions(tmp_path)
    probe = "import audiomlqa, importlib.util, pathlib; print(pathlib.Path(audiomlqa.__file__).parent); "
    probe += "print(*[m for m in ('torch', 'transformers', 'datasets') if importlib.util.find_spec(m)])"
    packaged, importable = subprocess.run(
        [python, "-c", probe], capture_output=True, text=True, env=env, cwd=tmp_path, check=True
    ).stdout.splitlines()
    assert importable == ""  # none of the heavy packages is installed
    gold = Path(packaged) / "data" / "mlqa-sample" / "dev" / "dev-context-de-question-de.json"
    assert str(gold).startswith(str(venv))  # the venv's own copy, not the repository's
    run = dict(capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    out = subprocess.run([cli, "score", pred, "--dataset", gold, "--lang", "de", "--json"], **run)
    assert out.returncode == 0, out.stderr[-3000:]
    assert floats(json.loads(out.stdout)) == floats(repository_score(pred, SAMPLE / "dev" / gold.name))
    listed = subprocess.run([cli, "questions", Path(packaged) / "data" / "mlqa-sample", "--limit", "5"], **run)
    assert listed.returncode == 0 and len(listed.stdout.splitlines()) == 5, listed.stderr[-3000:]
    assert_one_line(subprocess.run([cli, "train-reference", "--recipe", ROOT / "recipes" / "train-tiny-cpu.yaml"],
                                   **run), "pip install 'audiomlqa[models]'")  # fmt: skip


@pytest.mark.slow
def test_the_wheel_holds_the_licence_notice_and_every_file_the_package_reads(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    info = f"audiomlqa-{audiomlqa.__version__}.dist-info"
    assert {f"{info}/licenses/LICENSE", f"{info}/licenses/NOTICE"} <= names
    package = ROOT / "audiomlqa"
    needed = [p for p in package.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"]
    missing = [p.relative_to(ROOT).as_posix() for p in needed if p.relative_to(ROOT).as_posix() not in names]
    assert not missing, missing  # templates, static files, the MLQA sample, the calibration, task YAMLs
    assert not [n for n in names if n.startswith("tests/") or "/__pycache__/" in n]
    metadata = zipfile.ZipFile(wheel).read(f"{info}/METADATA").decode()
    assert "License-Expression: Apache-2.0" in metadata and "Project-URL: Repository, https://github.com/" in metadata
