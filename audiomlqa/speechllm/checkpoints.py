"""Training checkpoints and the training log: what a killed run resumes from.

A checkpoint (``output_dir/checkpoints/step-N``) holds the trainable weights only (the projector; the frozen Whisper and
LLM are reloaded from their ids), the optimizer, schedule and every RNG state, and a ``DONE`` file written last with
the step: a checkpoint without it is ignored, and resuming never unpickles anything that could run code. A
``DONE`` that does not hold the folder's own step (``-5``, ``999999``, text) fails in one line rather than being
skipped: it was never written by a run (we write it last, whole), so the checkpoint is damaged and the user, not
the tool, decides to drop it — skipping it would silently throw away training, trusting it would resume at a step
never reached.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import warnings
from pathlib import Path

from audiomlqa.errors import AudioMLQAError, first_line


class StepCounter:
    """The optimizer step reached. A checkpoint records it in its ``DONE`` file (plain text), not in one of
    accelerate's pickled custom states: resuming never unpickles anything that could run code."""

    def __init__(self) -> None:
        self.step = 0


STEP_FOLDER = re.compile(r"step-([0-9]+)")


def latest_checkpoint(output_dir: Path, max_steps: int | None = None) -> Path | None:
    """The newest complete checkpoint (one with a ``DONE``), its ``DONE`` checked (:func:`done_step`)."""
    found = sorted(
        (p for p in (output_dir / "checkpoints").glob("step-*") if STEP_FOLDER.fullmatch(p.name)),
        key=lambda p: int(p.name[5:]),
    )
    complete = [p for p in found if (p / "DONE").exists()]
    if not complete:
        return None
    done_step(complete[-1], max_steps)
    return complete[-1]


def done_step(checkpoint: Path, max_steps: int | None = None) -> int:
    """The step in ``checkpoint/DONE``: a whole number equal to the folder's (``step-0000123`` holds 123) and not
    beyond the run's ``max_steps``; anything else is one line naming the file."""
    done = checkpoint / "DONE"
    try:
        text = done.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as e:
        raise _damaged(done, f"cannot be read ({getattr(e, 'strerror', None) or first_line(e)})") from None
    if not re.fullmatch(r"[0-9]+", text):
        raise _damaged(done, f"holds {text[:40]!r}, not a step number")
    step, folder = int(text), STEP_FOLDER.fullmatch(checkpoint.name)
    if folder is None or step != int(folder.group(1)):
        raise _damaged(done, f"says step {step}, but the folder is {checkpoint.name}")
    if max_steps is not None and step > max_steps:
        raise AudioMLQAError(
            f"{done} says step {step}, beyond this run's max_steps {max_steps}: rerun with the max_steps it was"
            f" trained with, or delete {checkpoint} to resume from the checkpoint before it"
        )
    return step


def _damaged(done: Path, why: str) -> AudioMLQAError:
    return AudioMLQAError(
        f"{done} {why}: the checkpoint is damaged; delete {done.parent} to resume from the one before"
    )


def read_run_config(path: Path) -> dict:
    """The settings an output's run was made with (``train_config.json``), read whole or refused in one line: it
    is what keeps a resume from mixing two runs, so a damaged one is never skipped."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        why = f"cannot be read ({getattr(e, 'strerror', None) or first_line(e)})"
    except json.JSONDecodeError as e:
        why = f"malformed JSON at line {e.lineno} column {e.colno}: {e.msg}"
    else:
        if isinstance(data, dict):
            return data
        why = f"holds a JSON {type(data).__name__}, not the run's settings"
    raise AudioMLQAError(f"{path} is damaged ({why}): restore it, or choose another output_dir to start over")


def register_trainable_only_hooks(accelerator) -> None:
    """Checkpoints hold the projector only: the frozen Whisper and LLM (billions of weights) are
    reloaded from their ids, never copied into every checkpoint."""
    from safetensors.torch import load_file, save_file

    def save(models, weights, output_dir):
        if accelerator.state.deepspeed_plugin is not None:
            return  # DeepSpeed saves the trainable parameters itself (exclude_frozen_parameters); weights is empty
        for i, model in enumerate(models):
            core = accelerator.unwrap_model(model)
            if hasattr(core, "projector"):
                save_file(
                    {k: v.detach().contiguous().cpu() for k, v in core.projector.state_dict().items()},
                    str(Path(output_dir) / f"projector_{i}.safetensors"),
                )
                weights[i] = {}
        while weights and weights[-1] == {}:
            weights.pop()

    def load(models, input_dir):
        for i in reversed(range(len(models))):
            core = accelerator.unwrap_model(models[i])
            path = Path(input_dir) / f"projector_{i}.safetensors"
            if hasattr(core, "projector") and path.exists():
                core.projector.load_state_dict(load_file(str(path), device=str(core.device)))
                models.pop(i)

    accelerator.register_save_state_pre_hook(save)
    accelerator.register_load_state_pre_hook(load)


def load_checkpoint(accelerator, state: StepCounter, checkpoint: Path) -> None:
    """Restore weights, optimizer, schedule and RNG states (accelerate reads its files with ``weights_only``, which
    refuses any pickle that would run code) and the step from ``DONE``."""
    state.step = done_step(checkpoint)  # a damaged DONE fails before torch is even imported
    import pickle

    from accelerate.utils import load

    try:
        with warnings.catch_warnings():  # torch warns about the pickle protocol of what it then refuses
            warnings.simplefilter("ignore")
            for rng in checkpoint.glob("random_states_*.pkl"):  # accelerate skips RNG states it cannot read
                load(rng)  # (weights_only): an exact resume needs them, and a planted pickle must fail loudly
            # under DeepSpeed the checkpoint holds the trainable parameters only: the frozen ones are the pretrained
            accelerator.load_state(str(checkpoint), **load_kwargs(accelerator))
    except (pickle.UnpicklingError, RuntimeError, ValueError, OSError, EOFError) as e:
        why = "a pickle in it is not plain data" if isinstance(e, pickle.UnpicklingError) else first_line(e)
        raise AudioMLQAError(
            f"cannot load checkpoint {checkpoint} safely ({why}): delete it to resume from the one before"
        ) from None


def load_kwargs(accelerator) -> dict:
    return {"load_module_strict": False} if accelerator.state.deepspeed_plugin is not None else {}


def save_checkpoint(accelerator, core, out: Path, step: int, keep: int) -> None:
    path = out / "checkpoints" / f"step-{step:07d}"
    if accelerator.is_main_process and path.exists():
        shutil.rmtree(path)  # an incomplete one from a killed run
    accelerator.wait_for_everyone()
    kwargs = {"exclude_frozen_parameters": True} if accelerator.state.deepspeed_plugin is not None else {}
    accelerator.save_state(str(path), **kwargs)
    if accelerator.is_main_process:
        core.save_pretrained(path / "model")
        (path / "DONE").write_text(f"{step}\n")  # written last: a checkpoint without it is ignored
        done = sorted((p for p in (out / "checkpoints").glob("step-*") if (p / "DONE").exists()), key=lambda p: p.name)
        for old in done[:-keep] if keep > 0 else []:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


def read_log(path: Path, up_to: int) -> list[dict]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(ValueError):
            row = json.loads(line)
            if row.get("step", 0) <= up_to:
                rows.append(row)
    return rows


def write_log(path: Path, rows: list[dict], append: bool = False) -> None:
    with open(path, "a" if append else "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
