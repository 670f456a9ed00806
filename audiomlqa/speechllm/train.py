"""Training the projector by distillation, with accelerate: one device, DDP, or DeepSpeed ZeRO-2.

:func:`train` is the whole job; ``audiomlqa train-reference --recipe R.yaml key=value`` builds a
:class:`TrainConfig` from a recipe and calls it. Checkpoints (:mod:`~audiomlqa.speechllm.checkpoints`)
hold the trainable weights, optimizer, scheduler and every RNG state; the data order is a pure
function of (seed, step), so a rerun of the same command resumes exactly where the last checkpoint
left off — on CPU, bit for bit.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import Field

from audiomlqa import __version__
from audiomlqa.config import Integer, Number, Settings, load_settings, parse
from audiomlqa.errors import AudioMLQAError
from audiomlqa.llm.names import resolve
from audiomlqa.speechllm.checkpoints import (
    StepCounter,
    latest_checkpoint,
    load_checkpoint,
    read_log,
    read_run_config,
    register_trainable_only_hooks,
    save_checkpoint,
    write_log,
)
from audiomlqa.speechllm.config import SpeechLLMConfig
from audiomlqa.speechllm.data import AsrCorpus, DataConfig, batch_indices, load_asr_corpus
from audiomlqa.utils.files import jsonable, write_json
from audiomlqa.utils.locks import exclusive
from audiomlqa.utils.progress import progress_bar, stderr_console
from audiomlqa.weights.hub import push

LOG_KEYS = ("loss", "loss_lid", "loss_in", "loss_out", "lid_accuracy", "gate_entropy")


class DeepSpeedSettings(Settings):
    """Settings of accelerate's DeepSpeed plugin (launch with ``accelerate launch``)."""

    zero_stage: Literal[0, 1, 2, 3] = 2
    offload_optimizer_device: Literal["none", "cpu", "nvme"] | None = None
    offload_param_device: Literal["none", "cpu", "nvme"] | None = None
    hf_ds_config: str | None = None
    """A DeepSpeed JSON config file, for settings beyond these."""


class TrainConfig(Settings):
    model: SpeechLLMConfig = Field(default_factory=SpeechLLMConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    output_dir: str = "runs/speechllm"
    max_steps: Integer = Field(1000, ge=1)
    batch_size: Integer = Field(8, ge=1)
    """Utterances per device per micro-step."""
    gradient_accumulation_steps: Integer = Field(1, ge=1)
    learning_rate: Number = Field(5.6e-5, gt=0.0)
    weight_decay: Number = Field(0.0, ge=0.0)
    betas: list[Number] = Field(default_factory=lambda: [0.9, 0.999], min_length=2, max_length=2)
    warmup_steps: Integer = Field(0, ge=0)
    max_grad_norm: Number = Field(1.0, gt=0.0)
    mixed_precision: Literal["auto", "no", "bf16", "fp16"] = "auto"
    """"auto" (bf16 on a GPU that has it, else none), "no", "bf16" or "fp16"."""
    deepspeed: DeepSpeedSettings | None = None
    """DeepSpeed plugin settings, e.g. ``{zero_stage: 2}``; launch with ``accelerate launch``."""
    eval_every: Integer | None = Field(None, ge=1)
    """Validate on the held-out utterances (``data.validation``) every this many steps and at the end (None: at
    every checkpoint)."""
    trackers: list[Literal["tensorboard", "wandb"]] | Literal["auto"] = "auto"
    """accelerate's trackers for the training and validation metrics (``auto``: TensorBoard when installed, and W&B
    when installed and set up: ``WANDB_API_KEY`` or ``WANDB_MODE``);
    ``train_log.jsonl`` has them all either way."""
    save_every: Integer = Field(500, ge=1)
    keep_checkpoints: Integer = Field(2, ge=0)
    seed: Integer = 0

    @classmethod
    def from_dict(cls, data: dict, where: str | None = None) -> TrainConfig:
        return parse(cls, data, where)


def load_train_config(recipe: str | Path, overrides: Sequence[str] = ()) -> TrainConfig:
    """A training recipe with ``key.sub=value`` overrides (e.g. ``max_steps=100 model.gate=attention``)."""
    return load_settings(TrainConfig, recipe, overrides)


@dataclass
class TrainResult:
    output_dir: Path
    final: Path
    steps: int
    resumed_from: int
    log: list[dict]
    """The training steps' rows of ``train_log.jsonl``."""
    process_index: int = 0
    validation: list[dict] = field(default_factory=list)
    """Its validation rows (``"split": "validation"``)."""
    data: dict = field(default_factory=dict)
    """Rows of the data kept and left out, by reason; the training / validation split."""

    @property
    def best(self) -> dict | None:
        """The validation with the lowest total loss."""
        return min(self.validation, key=lambda r: r["loss"]) if self.validation else None

    def summary(self) -> dict:
        return {
            "output_dir": str(self.output_dir),
            "final": str(self.final),
            "steps": self.steps,
            "resumed_from": self.resumed_from,
            "last": self.log[-1] if self.log else None,
            "validation": self.validation[-1] if self.validation else None,
            "best_step": self.best["step"] if self.best else None,
            "data": self.data,
        }

    def report_lines(self) -> list[str]:
        """The run in words, as ``train-reference`` prints it: the steps (and where it resumed), the last losses,
        where the model is, and the best validation (its loss and held-out language ID, per language)."""
        last = self.log[-1] if self.log else {}
        resumed = f" (resumed at {self.resumed_from})" if self.resumed_from else ""
        losses = (
            f"; last loss {last['loss']:.4f} (lid {last['loss_lid']:.4f}, in {last['loss_in']:.4f}, "
            f"out {last['loss_out']:.4f})"
            if last
            else ""
        )
        lines = [f"trained {self.steps} step(s){resumed}{losses}; model in {self.final}"]
        if self.best:
            best = self.best
            languages = " ".join(f"{k} {v:.0%}" for k, v in best["lid_accuracy_per_language"].items())
            lines.append(
                f"best validation at step {best['step']}: loss {best['loss']:.4f}, held-out language ID "
                f"{best['lid_accuracy']:.1%} ({languages}) on {best['utterances']} utterance(s)"
            )
        return lines


@dataclass
class _Run:
    """What the training loop works with: the prepared model (and its unwrapped core), optimizer, schedule, step."""

    accelerator: object
    model: object
    core: object
    optimizer: object
    scheduler: object
    state: StepCounter
    language_index: dict[str, int]


def train(
    cfg: TrainConfig,
    *,
    progress: bool = True,
    on_step: Callable[[int, dict], None] | None = None,
    push_to_hub: str | None = None,
) -> TrainResult:
    """Train (or resume) the projector of ``cfg.model`` on ``cfg.data`` into ``cfg.output_dir``; with
    ``push_to_hub`` (``user/name``), upload the final checkpoint there (``SpeechLLM.from_pretrained`` and a spec's
    ``checkpoint`` take that id)."""
    cfg.model.check_models()  # before any weights: query length, chat template
    corpus, validation = load_asr_corpus(cfg.data, cfg.model.languages, max_seconds=_window_seconds(cfg.model))
    if progress:
        _print_counts(corpus.counts)
    out = Path(cfg.output_dir)
    with contextlib.ExitStack() as stack:
        if int(os.environ.get("RANK", "0")) == 0:  # one lock per run: the launcher's first process holds it
            stack.enter_context(exclusive(out, "audiomlqa train-reference"))
        result = _train(cfg, corpus, validation, out, progress, on_step)
    if push_to_hub and result.process_index == 0:
        push(result.final, push_to_hub, repo_type="model", message=f"Speech LLM from audiomlqa {__version__}")
    return result


def _window_seconds(model: SpeechLLMConfig) -> float:
    """How much audio the encoder reads (from its config, a small file)."""
    if model.encoder_window_seconds is not None:
        return float(model.encoder_window_seconds)
    from transformers import WhisperConfig

    return WhisperConfig.from_pretrained(resolve(model.whisper)).max_source_positions / 50


def _print_counts(counts: dict) -> None:

    dropped = {f"language {k}": v for k, v in counts["language_not_in_bank"].items()}
    reasons = ("empty_text", "longer_than_window", "over_limit")
    dropped.update({k.replace("_", " "): counts[k] for k in reasons if counts.get(k)})
    left_out = ", ".join(f"{v} {k}" for k, v in dropped.items()) or "none"
    stderr_console().print(
        f"data: {counts['rows']} rows, {counts['train']} train, {counts['validation']} validation"
        f"{' (by ' + counts['validation_by'] + ')' if counts['validation_by'] else ''}; left out: {left_out}",
        highlight=False,
    )


def _train(
    cfg: TrainConfig, corpus: AsrCorpus, validation: AsrCorpus, out: Path, progress: bool, on_step
) -> TrainResult:
    from accelerate.utils import set_seed

    _check_same_run(cfg, out)
    accelerator = _accelerator(cfg, out)
    set_seed(cfg.seed)
    run = _build(cfg, accelerator)
    checkpoint = latest_checkpoint(out, cfg.max_steps)
    if checkpoint is not None:
        load_checkpoint(accelerator, run.state, checkpoint)
    resumed_from = run.state.step
    log_path = out / "train_log.jsonl"
    rows = read_log(log_path, up_to=run.state.step)
    if accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        write_log(log_path, rows)
        write_json(out / "train_config.json", cfg.to_dict())
    log = [r for r in rows if r.get("split", "train") == "train"]
    checks = [r for r in rows if r.get("split") == "validation"]
    every = cfg.eval_every or cfg.save_every

    def record(row: dict) -> None:
        if accelerator.is_main_process:
            write_log(log_path, [row], append=True)
        scalars = {f"{row['split']}/{k}": v for k, v in row.items() if isinstance(v, float)}
        for lang, accuracy in row.get("lid_accuracy_per_language", {}).items():
            scalars[f"{row['split']}/lid_accuracy/{lang}"] = accuracy
        accelerator.log(scalars, step=row["step"])

    enabled = progress and accelerator.is_main_process
    run.model.train()  # the projector's dropout and the like; the frozen encoder and LLM stay in eval mode
    batches = micro_batches(run, corpus, cfg)
    with progress_bar("train", cfg.max_steps, completed=run.state.step, enabled=enabled) as bar:
        while run.state.step < cfg.max_steps:
            row = _train_step(run, batches, cfg)
            log.append(row)
            record(row)
            bar.update(completed=run.state.step, note=f"loss {row['loss']:.4f} lid {row['lid_accuracy']:.2f}")
            done = run.state.step == cfg.max_steps
            if len(validation) and (run.state.step % every == 0 or done):
                checks.append(_validate(run, validation, cfg))
                record(checks[-1])
            if run.state.step % cfg.save_every == 0 or done:
                save_checkpoint(accelerator, run.core, out, run.state.step, cfg.keep_checkpoints)
            if on_step is not None:
                on_step(run.state.step, row)
    final = out / "final"
    if accelerator.is_main_process:
        run.core.save_pretrained(final)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    index = accelerator.process_index
    return TrainResult(out, final, run.state.step, resumed_from, log, index, checks, corpus.counts)


def _trackers(cfg: TrainConfig) -> list[str]:
    if cfg.trackers != "auto":
        return list(cfg.trackers)
    import importlib.util

    found = ["tensorboard"] if importlib.util.find_spec("tensorboard") else []
    wandb_set_up = os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_MODE")  # else it would ask to log in
    return found + (["wandb"] if importlib.util.find_spec("wandb") and wandb_set_up else [])


def _accelerator(cfg: TrainConfig, out: Path):
    """One device, DDP or DeepSpeed, whichever the launcher and the config ask for; trackers log under ``out``."""
    import torch
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs

    if not torch.cuda.is_available():  # DeepSpeed, when installed, says on import that it fell back to the CPU
        os.environ.setdefault("DS_ACCELERATOR", "cpu")
    mixed = cfg.mixed_precision
    if mixed == "auto":
        mixed = "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no"
    plugin, handlers = None, []
    if cfg.deepspeed:
        from accelerate.utils import DeepSpeedPlugin, InitProcessGroupKwargs

        plugin = DeepSpeedPlugin(
            gradient_accumulation_steps=cfg.gradient_accumulation_steps,
            gradient_clipping=cfg.max_grad_norm,
            **cfg.deepspeed.model_dump(exclude_none=True),
        )
        # no DataLoader goes through prepare() (each rank reads its own utterances), so DeepSpeed is told the
        # micro-batch size rather than left to infer it from one
        if plugin.deepspeed_config.get("train_micro_batch_size_per_gpu", "auto") == "auto":
            plugin.deepspeed_config["train_micro_batch_size_per_gpu"] = cfg.batch_size
        if not torch.cuda.is_available():  # DeepSpeed's CPU accelerator: gloo, which accelerate must be told
            handlers.append(InitProcessGroupKwargs(backend="gloo"))
    # With L_LID switched off and the gold language forced, the gate gets no gradient in a step: DDP must allow that.
    unused = cfg.model.language_aware and cfg.model.loss_weights.get("lid", 1.0) == 0
    trackers = _trackers(cfg)
    accelerator = Accelerator(
        mixed_precision=mixed,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        deepspeed_plugin=plugin,
        step_scheduler_with_optimizer=False,
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=unused), *handlers],
        log_with=trackers or None,
        project_dir=str(out),
    )
    if trackers:
        flat = {k: v for k, v in _flatten(cfg.to_dict()).items() if isinstance(v, (int, float, str, bool))}
        accelerator.init_trackers("trackers", config=flat)
    return accelerator


def _flatten(data: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in data.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _build(cfg: TrainConfig, accelerator) -> _Run:
    """The model (frozen parts in the mixed-precision dtype), AdamW over the projector, cosine schedule, prepared."""
    import torch

    from audiomlqa.speechllm.model import SpeechLLM

    frozen_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(accelerator.mixed_precision)
    model = SpeechLLM.from_config(cfg.model, dtype=frozen_dtype, device=accelerator.device)
    optimizer = torch.optim.AdamW(
        model.trainable_parameters(), lr=cfg.learning_rate, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: learning_rate_factor(step, cfg.warmup_steps, cfg.max_steps)
    )
    state = StepCounter()
    register_trainable_only_hooks(accelerator)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    languages = {lang: i for i, lang in enumerate(cfg.model.languages)}
    return _Run(accelerator, model, accelerator.unwrap_model(model), optimizer, scheduler, state, languages)


def learning_rate_factor(step: int, warmup: int, total: int) -> float:
    """The multiplier of the learning rate at optimizer step ``step`` (0-based): linear warm-up that reaches the full
    rate at step ``warmup - 1`` (step 0 already learns, at 1/warmup of it), then a cosine to 0 at ``total``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


class MicroBatches:
    """Micro-batch ``k`` of a run (step ``k // accumulation``) ready for the model: the utterances this process reads
    (a pure function of seed and step, so a resumed run reads what an uninterrupted one would), decoded, as
    log-Mel features, speech frames, token ids and language indices. A ``torch.utils.data.DataLoader`` computes them
    in worker processes, ahead of the training step."""

    def __init__(self, corpus: AsrCorpus, cfg: TrainConfig, rank: int, world: int, core, language_index) -> None:
        self.corpus, self.cfg, self.rank, self.world = corpus, cfg, rank, world
        self.feature_extractor, self.tokenizer, self.language_index = (
            core.feature_extractor,
            core.tokenizer,
            language_index,
        )

    def __len__(self) -> int:
        return self.cfg.max_steps * self.cfg.gradient_accumulation_steps

    def __getitem__(self, k: int) -> dict:
        import torch

        from audiomlqa.speechllm.model import log_mel, speech_frames

        cfg = self.cfg
        step, micro = divmod(k, cfg.gradient_accumulation_steps)
        idx = batch_indices(
            len(self.corpus),
            step,
            micro,
            batch_size=cfg.batch_size,
            accumulation=cfg.gradient_accumulation_steps,
            rank=self.rank,
            world=self.world,
            seed=cfg.seed,
        )
        utterances = [self.corpus[i] for i in idx]
        audios = [u.audio for u in utterances]
        window = self.feature_extractor.n_samples
        return {
            "features": log_mel(self.feature_extractor, audios),
            "frames": speech_frames(self.feature_extractor, audios),
            "transcripts": [self.tokenizer(u.text, add_special_tokens=False).input_ids for u in utterances],
            "languages": torch.tensor([self.language_index[u.language] for u in utterances]),
            "audio_seconds": sum(u.seconds for u in utterances),
            "cut": sum(len(a) > window for a in audios),
        }


def micro_batches(run: _Run, corpus: AsrCorpus, cfg: TrainConfig):
    """The run's micro-batches from its current step on, ``cfg.data.workers`` processes preparing them. The loader
    seeds its workers from a generator of its own: starting an iterator draws a seed, and a draw from the global
    RNG would shift every later one by a step in a resumed run (the restored state, then the draw) but not in an
    uninterrupted one (the draw, then ten steps)."""
    import torch
    from torch.utils.data import DataLoader

    batches = MicroBatches(
        corpus, cfg, run.accelerator.process_index, run.accelerator.num_processes, run.core, run.language_index
    )
    start = run.state.step * cfg.gradient_accumulation_steps
    workers = cfg.data.workers
    return iter(
        DataLoader(
            batches,
            batch_size=None,
            sampler=range(start, len(batches)),
            num_workers=workers,
            prefetch_factor=2 if workers else None,
            persistent_workers=False,
            generator=torch.Generator().manual_seed(cfg.seed),
        )
    )


def _train_step(run: _Run, batches, cfg: TrainConfig) -> dict:
    """One optimizer step (``gradient_accumulation_steps`` micro-batches from ``batches``); returns its log row."""
    import torch

    from audiomlqa.speechllm.model import teacher_forcing_probability

    acc = run.accelerator
    step = run.state.step
    t0 = time.perf_counter()
    teacher_forcing = teacher_forcing_probability(step, cfg.max_steps, cfg.model.teacher_forcing_fraction)
    lr = run.scheduler.get_last_lr()[0]  # the rate this step's update uses
    sums = dict.fromkeys(LOG_KEYS, 0.0)
    audio_seconds, cut, waited = 0.0, 0, 0.0
    grad_norm = None
    for _ in range(cfg.gradient_accumulation_steps):
        t_wait = time.perf_counter()
        batch = next(batches)
        waited += time.perf_counter() - t_wait
        audio_seconds += batch["audio_seconds"]
        cut += batch["cut"]
        with acc.accumulate(run.model), acc.autocast():
            result = run.model(
                batch["features"], batch["transcripts"], batch["languages"], teacher_forcing, batch["frames"]
            )
            acc.backward(result.loss)
            if acc.sync_gradients:
                grad_norm = acc.clip_grad_norm_(run.core.trainable_parameters(), cfg.max_grad_norm)
            run.optimizer.step()
            run.optimizer.zero_grad(set_to_none=True)
        for k in LOG_KEYS:
            sums[k] += float(getattr(result, k).detach()) / cfg.gradient_accumulation_steps
    run.scheduler.step()
    run.state.step += 1
    metrics = {k: float(acc.reduce(torch.tensor(v, device=acc.device), "mean")) for k, v in sums.items()}
    seconds = time.perf_counter() - t0
    return {
        "step": run.state.step,
        "split": "train",
        **metrics,
        "lr": lr,
        "teacher_forcing": teacher_forcing,
        "grad_norm": None if grad_norm is None else float(grad_norm),
        "audio_seconds_per_second": audio_seconds * acc.num_processes / seconds,
        "steps_per_second": 1.0 / seconds,
        "data_wait_fraction": waited / seconds,
        "clips_cut_to_window": cut,
    }


def _validate(run: _Run, validation: AsrCorpus, cfg: TrainConfig) -> dict:
    """The losses and the gate's language ID on the held-out utterances (no teacher forcing), per language too.
    Every process computes the same (on the unwrapped model: no collective calls)."""
    import torch

    core = run.core
    was_training = core.training
    core.eval()
    sums, n = dict.fromkeys(("loss", "loss_lid", "loss_in", "loss_out"), 0.0), 0
    hits: dict[str, list[bool]] = {}
    with torch.no_grad(), run.accelerator.autocast():
        for start in range(0, len(validation), cfg.batch_size):
            utterances = [validation[i] for i in range(start, min(start + cfg.batch_size, len(validation)))]
            audios = [u.audio for u in utterances]
            transcripts = [core.tokenizer(u.text, add_special_tokens=False).input_ids for u in utterances]
            languages = torch.tensor([run.language_index[u.language] for u in utterances])
            result = core(core.features(audios), transcripts, languages, 0.0, core.frames(audios))
            for k in sums:
                sums[k] += float(getattr(result, k)) * len(utterances)
            n += len(utterances)
            if result.predicted is not None:
                for u, p in zip(utterances, result.predicted.tolist()):
                    hits.setdefault(u.language, []).append(p == run.language_index[u.language])
    core.train(was_training)
    per_language = {lang: sum(h) / len(h) for lang, h in sorted(hits.items())}
    every = [x for h in hits.values() for x in h]
    return {
        "step": run.state.step,
        "split": "validation",
        **{k: v / n for k, v in sums.items()},
        "lid_accuracy": sum(every) / len(every) if every else 0.0,
        "lid_accuracy_per_language": per_language,
        "utterances": n,
    }


def _check_same_run(cfg: TrainConfig, out: Path) -> None:
    """Refuse to resume a run made with other settings (a changed recipe would silently mix two runs), or from a
    checkpoint whose ``DONE`` is damaged: before any model loads."""
    saved = out / "train_config.json"
    if latest_checkpoint(out) is None:  # nothing to resume: a fresh run rewrites the file
        return
    if not saved.exists():  # the settings check must not turn off with a deleted record
        raise AudioMLQAError(
            f"{out} holds checkpoints but no train_config.json, so the settings they were trained with are unknown: "
            "restore the file, or choose another output_dir to start over"
        )
    previous = read_run_config(saved)  # damaged: one line, never a traceback nor a skipped check
    with contextlib.suppress(Exception):  # read through today's schema: defaults added since then match
        previous = TrainConfig.model_validate(previous).to_dict()
    current = jsonable(cfg.to_dict())
    changed = sorted(k for k in set(previous) | set(current) if previous.get(k) != current.get(k))
    if changed:
        raise AudioMLQAError(
            f"{out} holds a run with other settings (changed: {', '.join(changed)}); "
            "resume with the same recipe or choose another output_dir"
        )
    latest_checkpoint(out, cfg.max_steps)  # after the settings: a changed max_steps is a changed setting, not a
    # checkpoint to delete
