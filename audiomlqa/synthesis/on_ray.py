"""The synthesis pipeline on a Ray cluster: TTS actors on CPUs, ASR actors on GPUs, the driver judging and writing.

Ray Core actors rather than Ray Data's ``map_batches``: a question is not a row that flows through once — it comes
back for another attempt when its clip is rejected, with the next voice and rate, until one is accepted — and every
decision must land in one append-only manifest that a killed driver resumes from. So the driver keeps the loop of
:mod:`.pipeline` (what to speak next, the judging rule, the FLAC writes, the manifest) and the cluster does the two
expensive steps: each batch is split across the TTS actors (``num_cpus`` each) and handed, as object references,
straight to an ASR actor (a GPU each where the cluster has them, batching a whole batch at once), so audio goes from
the TTS node to the ASR node through the object store while the driver judges the batch before. The actors are
restartable and their calls retried (``max_restarts``, ``max_task_retries``): a killed worker's batch is spoken and
heard again, identically (seeded TTS, greedy ASR), and only the driver writes, so nothing is duplicated.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field

from audiomlqa.asr import Heard, hear
from audiomlqa.errors import AudioMLQAError
from audiomlqa.synthesis.speaking import listen, speak_clip

RESTARTS = 4
"""How often a killed actor is restarted (its calls retried each time) before the run fails."""


class _Busy:
    """Seconds an actor spent working, for the busy share of its pool (``bench_synthesize --engine ray``)."""

    def __init__(self) -> None:
        self.busy, self.calls, self.started = 0.0, 0, time.time()

    def timed(self, fn, *args):
        t0 = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self.busy += time.perf_counter() - t0
            self.calls += 1

    def stats(self) -> dict:
        return {"pid": os.getpid(), "busy": self.busy, "calls": self.calls, "started": self.started}


class TTSWorker(_Busy):
    """Speaks chunks of a batch (each TTS backend loaded once per actor, as in a local worker process)."""

    def speak(self, jobs: list) -> list:
        return self.timed(lambda: [speak_clip(*job) for job in jobs])


class ASRWorker(_Busy):
    """Hears with the run's ASR judge, loaded once per actor (on its GPU where it has one)."""

    def __init__(self, settings) -> None:
        super().__init__()
        self.asr = settings.load()

    def describe(self) -> dict:
        return {"model_id": self.asr.model_id, "name": self.asr.name, "describe": self.asr.describe()}

    def listen(self, lang: str, texts: list[str], *chunks: list) -> tuple[dict[int, Heard], float]:
        """A spoken batch, its chunks as the TTS actors returned them."""
        clips = [clip for chunk in chunks for clip in chunk]
        return self.timed(listen, self.asr, lang, texts, clips)

    def hear(self, audios: list, lang: str, references: list[str]) -> list[Heard]:
        return self.timed(hear, self.asr, audios, lang, references)


@dataclass
class RemoteASR:
    """The ASR judge as the actors run it, usable wherever a loaded backend is (``calibrate``, ``asr-filter``): each
    call goes to the next actor in turn and waits for its answer."""

    ray: object
    actors: list
    model_id: str
    name: str
    description: dict
    _turn: int = 0

    def describe(self) -> dict:
        return self.description

    def next_actor(self):
        self._turn += 1
        return self.actors[(self._turn - 1) % len(self.actors)]

    def transcribe_checked(self, audios: Sequence, lang: str, references: Sequence[str]) -> list[Heard]:
        return _get(self.ray, self.next_actor().hear.remote(list(audios), lang, list(references)))

    def transcribe(self, audios: Sequence, lang: str, references: Sequence[str]) -> list[str]:
        return [h.text for h in self.transcribe_checked(audios, lang, references)]


@dataclass
class RayEngine:
    """``submit(jobs)`` speaks a batch on the TTS actors (contiguous chunks, one per actor); ``listen(lang, texts,
    spoken)`` has the next ASR actor hear it as soon as its chunks are spoken, the chunks going from the TTS actors
    to the ASR actor without passing through the driver. ``depth`` batches in flight keep every actor busy."""

    ray: object
    tts: list
    asr: RemoteASR
    started: float = field(default_factory=time.time)

    @property
    def depth(self) -> int:
        return len(self.asr.actors) + 2

    def submit(self, jobs: list) -> Future:
        n = min(len(self.tts), len(jobs)) or 1
        cuts = [len(jobs) * i // n for i in range(n + 1)]
        refs = [actor.speak.remote(jobs[a:b]) for actor, a, b in zip(self.tts, cuts, cuts[1:])]
        done = _gather([ref.future() for ref in refs], lambda parts: [clip for part in parts for clip in part])
        done.refs = refs  # for listen: the ASR actor takes the chunks where they are
        return done

    def listen(self, lang: str, texts: list[str], spoken: Future) -> Future:
        future = self.asr.next_actor().listen.remote(lang, texts, *spoken.refs).future()
        return _gather([future], lambda parts: parts[0])

    def stats(self) -> dict:
        """Each pool's busy share since the engine started: summed busy seconds / (actors × wall seconds)."""
        wall = max(time.time() - self.started, 1e-9)
        out = {}
        for pool, actors in (("tts", self.tts), ("asr", self.asr.actors)):
            stats = _get(self.ray, [a.stats.remote() for a in actors])
            busy = sum(s["busy"] for s in stats)
            out[pool] = {
                "actors": len(actors),
                "calls": sum(s["calls"] for s in stats),
                "busy_seconds": round(busy, 3),
                "busy_share": round(busy / (len(actors) * wall), 4),
            }
        return out


def _get(ray, refs):
    try:
        return ray.get(refs)
    except Exception as e:  # noqa: BLE001 - Ray wraps a worker's error with its traceback
        raise _one_line(e) from None


def _gather(futures: list[Future], combine) -> Future:
    """One future for several: ``combine(results)`` once all are done, or the first error (in one line)."""
    done: Future = Future()
    results: list = [None] * len(futures)
    left = [len(futures)]

    def finished(i: int, f: Future) -> None:
        if done.done():
            return
        if f.exception() is not None:
            done.set_exception(_one_line(f.exception()))
            return
        results[i] = f.result()
        left[0] -= 1
        if left[0] == 0:
            done.set_result(combine(results))

    for i, f in enumerate(futures):
        f.add_done_callback(lambda f, i=i: finished(i, f))
    return done


def _one_line(error: BaseException) -> AudioMLQAError:
    """A worker's error as the driver raises it: an AudioMLQAError stays one; Ray's wrapped tracebacks are cut to
    their last line."""
    cause = getattr(error, "cause", None)
    if isinstance(cause, AudioMLQAError):
        return cause
    if isinstance(error, AudioMLQAError):
        return error
    last = [line for line in str(error).strip().splitlines() if line.strip()][-1:] or [error.__class__.__name__]
    return AudioMLQAError(f"a Ray worker failed ({last[0].strip()[:300]}); its log is in the Ray session's logs folder")


@contextmanager
def ray_cluster(address: str = "local", *, cpus_needed: int = 1) -> Iterator[object]:
    """Ray, connected: ``local`` starts a cluster on this machine (with a CPU slot for each actor to come, however
    few cores it has) and stops it on the way out; ``auto`` or ``ray://…`` joins a running one and leaves it
    running. Workers' output stays in the cluster's logs: stdout is for results."""
    try:
        import ray
    except ModuleNotFoundError:
        raise AudioMLQAError("--engine ray needs Ray: pip install 'audiomlqa[ray]'") from None
    if ray.is_initialized():  # a caller's own connection (a notebook, a test): used as it is, left open
        yield ray
        return
    try:
        _check_reachable(address)  # Ray itself retries an address with nothing behind it for minutes
        ray.init(
            address=address,
            num_cpus=max(os.cpu_count() or 1, cpus_needed) if address == "local" else None,
            include_dashboard=False,
            log_to_driver=False,
            logging_level="ERROR",
        )
    except (ConnectionError, ValueError, RuntimeError) as e:
        raise AudioMLQAError(
            f"cannot reach a Ray cluster at {address!r} ({' '.join(str(e).split())[:200]}): start one (ray start "
            "--head) and give its address (with its token in RAY_AUTH_TOKEN where it has one: ray get-auth-token), "
            "or leave out --ray-address for a local cluster"
        ) from None
    try:
        yield ray
    finally:
        ray.shutdown()


def _check_reachable(address: str) -> None:
    """Fail fast on a ``host:port`` (or ``ray://host:port``) that nothing listens on."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if address in ("local", "auto") or not host or not port.isdigit():
        return
    try:
        socket.create_connection((host, int(port)), timeout=10).close()
    except OSError as e:
        raise ConnectionError(f"nothing answers at {host}:{port}: {e.strerror or e}") from None


_RESTARTABLE = {"max_restarts": RESTARTS, "max_task_retries": RESTARTS}


def _options(run: str | None) -> dict:
    """Restartable actors; ``run`` (the output folder) is put in their environment as ``AUDIOMLQA_RUN``, so the
    processes serving a run can be told apart on a shared cluster (``ps e``, the tests)."""
    return {**_RESTARTABLE, **({"runtime_env": {"env_vars": {"AUDIOMLQA_RUN": run}}} if run else {})}


@contextmanager
def ray_asr(ray, settings, actors: int | None = None, run: str | None = None) -> Iterator[RemoteASR]:
    """ASR actors for ``settings`` (one per GPU of the cluster, or one on a CPU), killed on the way out."""
    gpus = int(ray.cluster_resources().get("GPU", 0))
    worker = ray.remote(num_cpus=1, num_gpus=1 if gpus else 0, **_options(run))(ASRWorker)
    handles = [worker.remote(settings) for _ in range(actors or max(1, gpus))]
    try:
        first = _get(ray, handles[0].describe.remote())  # the judge loads (or fails, in one line) before any work
        yield RemoteASR(ray, handles, first["model_id"], first["name"], first["describe"])
    finally:
        for handle in handles:
            ray.kill(handle, no_restart=True)


@contextmanager
def ray_engine(settings, *, tts_actors: int, address: str = "local", run: str | None = None) -> Iterator[RayEngine]:
    """The synthesis pipeline's engine on Ray: ``tts_actors`` TTS actors (a CPU each) and the ASR actors."""
    with ray_cluster(address, cpus_needed=tts_actors + 1) as ray, ray_asr(ray, settings, run=run) as asr:
        worker = ray.remote(num_cpus=1, **_options(run))(TTSWorker)
        tts = [worker.remote() for _ in range(tts_actors)]
        try:
            yield RayEngine(ray, tts, asr)
        finally:
            for handle in tts:
                ray.kill(handle, no_restart=True)


@contextmanager
def asr_judge(settings, *, engine: str = "local", address: str = "local") -> Iterator:
    """The ASR backend ``settings`` names, loaded here (``local``) or run by actors on a Ray cluster (``ray``): what
    ``calibrate`` and ``asr-filter`` transcribe with."""
    if engine != "ray":
        yield settings.load()
        return
    with ray_cluster(address) as ray, ray_asr(ray, settings) as remote:
        yield remote
