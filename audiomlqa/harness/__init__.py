"""Where researchers already evaluate: lm-evaluation-harness tasks shipped with audiomlqa, and the per-sample logs of
lm-eval and lmms-eval turned into audiomlqa predictions (:mod:`.logs`), so ``audiomlqa score`` and ``report`` work
on runs made there.

``LM_EVAL_TASKS`` is the folder to pass to ``lm_eval --include_path``: the ``audiomlqa_text`` tasks (the text
topline, :mod:`.lm_eval_text`). lm-eval 0.4 has no entry point for task folders, so ``--include_path`` (or
``TaskManager(include_path=LM_EVAL_TASKS)``) is the way in. ``LMMS_EVAL_TASKS`` is lmms-eval's ``audio_mlqa`` folder
(:mod:`.lmms_eval_tasks`; ``audiomlqa lmms-eval-tasks`` writes one for another dataset).
"""

from pathlib import Path

from audiomlqa.harness.lmms_eval_tasks import LMMS_EVAL_TASKS
from audiomlqa.harness.logs import Imported, import_lm_eval, import_lmms_eval

LM_EVAL_TASKS = str(Path(__file__).with_name("lm_eval_tasks"))

__all__ = ["LM_EVAL_TASKS", "LMMS_EVAL_TASKS", "Imported", "import_lm_eval", "import_lmms_eval"]
