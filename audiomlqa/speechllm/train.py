"""Training the projector by distillation, with accelerate: one device, DDP, or DeepSpeed ZeRO-2.

:func:`train` is the whole job; ``audiomlqa train-reference --recipe R.yaml key=value`` builds a
:class:`TrainConfig` from a recipe and calls it. Checkpoints (``output_dir/checkpoints/step-N``)
hold the trainable weights, optimizer, scheduler and every RNG state; the data order is a pure
function of (seed, step), so a rerun of the same command resumes exactly where the last checkpoint
left off — on CPU, bit for bit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from audiomlqa.errors import AudioMLQAError
from audiomlqa.speechllm.config import SpeechLLMConfig
from audiomlqa.speechllm.data import DataConfig, batch_indices, load_asr_corpus

LOG_KEYS = ("loss", "loss_lid", "loss_in", "loss_out", "lid_accuracy", "gate_entropy")


@dataclass
class TrainConfig:
    model: SpeechLLMConfig = field(default_factory=SpeechLLMConfig)
    data: DataConfig = field(default_factory=DataConfig)
    output_dir: str = "runs/speechllm"
    max_steps: int = 1000
    batch_size: int = 8
    """Utterances per device per micro-step."""
    gradient_accumulation_steps: int = 1
    learning_rate: float = 5.6e-5
    weight_decay: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    warmup_steps: int = 0
    max_grad_norm: float = 1.0
    mixed_precision: str = "auto"
    """"auto" (bf16 on a GPU that has it, else none), "no", "bf16" or "fp16"."""
    deepspeed: dict | None = None
    """DeepSpeed plugin settings, e.g. ``{zero_stage: 2}``; launch with ``accelerate launch``."""
    save_every: int = 500
    keep_checkpoints: int = 2
    seed: int = 0

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        from audiomlqa.recipes import check_settings

        check_settings(cls, data, "training")
        data = dict(data)
        data["model"] = SpeechLLMConfig.from_dict(data.get("model") or {})
        check_settings(DataConfig, data.get("data") or {}, "data")
        data["data"] = DataConfig(**(data.get("data") or {}))
        cfg = cls(**data)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        self.model.validate()
        for name in ("max_steps", "batch_size", "gradient_accumulation_steps", "save_every"):
            if getattr(self, name) < 1:
                raise AudioMLQAError(f"{name} must be at least 1")
        if self.mixed_precision not in ("auto", "no", "bf16", "fp16"):
            raise AudioMLQAError(f"mixed_precision must be auto, no, bf16 or fp16, not {self.mixed_precision!r}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """``key.sub=value`` strings (values parsed as YAML) applied to a nested recipe dict."""
    import yaml

    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise AudioMLQAError(f"bad override {item!r}: write key=value, e.g. max_steps=100 or model.gate=attention")
        node = data
        *parents, last = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise AudioMLQAError(f"bad override {item!r}: {p} is not a section")
        node[last] = yaml.safe_load(value)
    return data


class Progress:
    """The optimizer step reached; saved and restored with every checkpoint."""

    def __init__(self) -> None:
        self.step = 0

    def state_dict(self) -> dict:
        return {"step": self.step}

    def load_state_dict(self, state: dict) -> None:
        self.step = int(state["step"])


@dataclass
class TrainResult:
    output_dir: Path
    final: Path
    steps: int
    resumed_from: int
    log: list[dict]
    process_index: int = 0


def latest_checkpoint(output_dir: Path) -> Path | None:
    found = sorted((output_dir / "checkpoints").glob("step-*"), key=lambda p: int(p.name.split("-")[1]))
    complete = [p for p in found if (p / "DONE").exists()]
    return complete[-1] if complete else None


def train(cfg: TrainConfig, *, progress: bool = True, on_step: Callable[[int, dict], None] | None = None) -> TrainResult:
    """Train (or resume) the projector of ``cfg.model`` on ``cfg.data`` into ``cfg.output_dir``."""
    import torch
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from transformers import get_cosine_schedule_with_warmup

    from audiomlqa.speechllm.model import SpeechLLM, teacher_forcing_probability

    cfg.validate()
    cfg.model.check_models()  # before any weights: query length, chat template
    corpus = load_asr_corpus(cfg.data, cfg.model.languages)
    out = Path(cfg.output_dir)
    _check_same_run(cfg, out)

    mixed = cfg.mixed_precision
    if mixed == "auto":
        mixed = "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no"
    plugin = None
    if cfg.deepspeed:
        from accelerate.utils import DeepSpeedPlugin

        plugin = DeepSpeedPlugin(**{"gradient_accumulation_steps": cfg.gradient_accumulation_steps,
                                    "gradient_clipping": cfg.max_grad_norm, **cfg.deepspeed})
    from accelerate.utils import DistributedDataParallelKwargs

    # With L_LID switched off and the gold language forced, the gate gets no gradient in a step: DDP must allow that.
    unused = cfg.model.language_aware and cfg.model.loss_weights.get("lid", 1.0) == 0
    accelerator = Accelerator(mixed_precision=mixed, gradient_accumulation_steps=cfg.gradient_accumulation_steps,
                              deepspeed_plugin=plugin, step_scheduler_with_optimizer=False,
                              kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=unused)])
    set_seed(cfg.seed)
    frozen_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(mixed)
    model = SpeechLLM.from_config(cfg.model, dtype=frozen_dtype, device=accelerator.device)
    language_index = {lang: i for i, lang in enumerate(cfg.model.languages)}
    optimizer = torch.optim.AdamW(model.trainable_parameters(), lr=cfg.learning_rate, betas=tuple(cfg.betas),
                                  weight_decay=cfg.weight_decay)
    scheduler = get_cosine_schedule_with_warmup(optimizer, cfg.warmup_steps, cfg.max_steps)
    state = Progress()
    accelerator.register_for_checkpointing(state)
    _register_trainable_only_hooks(accelerator)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    core = accelerator.unwrap_model(model)

    resumed_from = 0
    checkpoint = latest_checkpoint(out)
    if checkpoint is not None:
        accelerator.load_state(str(checkpoint))
        resumed_from = state.step
    log_path = out / "train_log.jsonl"
    log = _read_log(log_path, up_to=state.step)
    if accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        _write_log(log_path, log)
        (out / "train_config.json").write_text(json.dumps(_jsonable(cfg.to_dict()), indent=2) + "\n", encoding="utf-8")

    bar = _progress_bar(cfg.max_steps, state.step) if progress and accelerator.is_main_process else None
    tokenizer = core.tokenizer
    try:
        while state.step < cfg.max_steps:
            step = state.step
            t0 = time.perf_counter()
            teacher_forcing = teacher_forcing_probability(step, cfg.max_steps, cfg.model.teacher_forcing_fraction)
            sums = dict.fromkeys(LOG_KEYS, 0.0)
            audio_seconds = 0.0
            for micro in range(cfg.gradient_accumulation_steps):
                idx = batch_indices(len(corpus), step, micro, batch_size=cfg.batch_size, accumulation=cfg.gradient_accumulation_steps,
                                    rank=accelerator.process_index, world=accelerator.num_processes, seed=cfg.seed)
                utterances = [corpus[i] for i in idx]
                audio_seconds += sum(u.seconds for u in utterances)
                features = core.features([u.audio for u in utterances])
                transcripts = [tokenizer(u.text, add_special_tokens=False).input_ids for u in utterances]
                languages = torch.tensor([language_index[u.language] for u in utterances])
                with accelerator.accumulate(model), accelerator.autocast():
                    result = model(features, transcripts, languages, teacher_forcing)
                    accelerator.backward(result.loss)
                    grad_norm = accelerator.clip_grad_norm_(core.trainable_parameters(), cfg.max_grad_norm) if accelerator.sync_gradients else None
                    optimizer.step()
                    optimizer.zero_grad(set_to_none=True)
                for k in LOG_KEYS:
                    sums[k] += float(getattr(result, k).detach()) / cfg.gradient_accumulation_steps
            scheduler.step()
            state.step += 1
            metrics = {k: float(accelerator.reduce(torch.tensor(v, device=accelerator.device), "mean")) for k, v in sums.items()}
            seconds = time.perf_counter() - t0
            row = {"step": state.step, **metrics, "lr": scheduler.get_last_lr()[0], "teacher_forcing": teacher_forcing,
                   "grad_norm": None if grad_norm is None else float(grad_norm),
                   "audio_seconds_per_second": audio_seconds * accelerator.num_processes / seconds, "steps_per_second": 1.0 / seconds}
            log.append(row)
            if accelerator.is_main_process:
                _write_log(log_path, [row], append=True)
            if bar is not None:
                bar[0].update(bar[1], completed=state.step, description=f"loss {row['loss']:.4f} lid {row['lid_accuracy']:.2f}")
            if state.step % cfg.save_every == 0 or state.step == cfg.max_steps:
                _save_checkpoint(accelerator, core, out, state.step, cfg.keep_checkpoints)
            if on_step is not None:
                on_step(state.step, row)
    finally:
        if bar is not None:
            bar[0].stop()
    final = out / "final"
    if accelerator.is_main_process:
        core.save_pretrained(final)
    accelerator.wait_for_everyone()
    return TrainResult(out, final, state.step, resumed_from, log, accelerator.process_index)


def _register_trainable_only_hooks(accelerator) -> None:
    """Checkpoints hold the projector only: the frozen Whisper and LLM (billions of weights) are
    reloaded from their ids, never copied into every checkpoint."""
    from safetensors.torch import load_file, save_file

    def save(models, weights, output_dir):
        for i, model in enumerate(models):
            core = accelerator.unwrap_model(model)
            if hasattr(core, "projector"):
                save_file({k: v.detach().contiguous().cpu() for k, v in core.projector.state_dict().items()},
                          str(Path(output_dir) / f"projector_{i}.safetensors"))
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


def _save_checkpoint(accelerator, core, out: Path, step: int, keep: int) -> None:
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


def _check_same_run(cfg: TrainConfig, out: Path) -> None:
    """Refuse to resume a run made with other settings (a changed recipe would silently mix two runs)."""
    saved = out / "train_config.json"
    if not saved.exists() or latest_checkpoint(out) is None:
        return
    previous = json.loads(saved.read_text(encoding="utf-8"))
    current = _jsonable(cfg.to_dict())
    changed = sorted(k for k in set(previous) | set(current) if previous.get(k) != current.get(k))
    if changed:
        raise AudioMLQAError(f"{out} holds a run with other settings (changed: {', '.join(changed)}); "
                             "resume with the same recipe or choose another output_dir")


def _jsonable(obj):
    return json.loads(json.dumps(obj))


def _read_log(path: Path, up_to: int) -> list[dict]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(ValueError):
            row = json.loads(line)
            if row.get("step", 0) <= up_to:
                rows.append(row)
    return rows


def _write_log(path: Path, rows: list[dict], append: bool = False) -> None:
    with open(path, "a" if append else "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")


def _progress_bar(total: int, completed: int):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    p = Progress(TextColumn("train"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"), TimeRemainingColumn())
    task = p.add_task("", total=total, completed=completed)
    p.start()
    return p, task
