"""Where every file of a run lives: the one module that knows a path.

Every method returns a path under the results folder. Called with the
record's names it gives that file; called without them it gives the
Snakemake pattern with the same names as wildcards (``{base}``,
``{modality}``, ...), so a rule's output and the stage that reads the file
cannot disagree.

Evaluations live under ``eval/<evaluation id>/``: a short hash of every
setting that changes an evaluation (the ``evaluation`` section, the
evaluation system prompt, the protocol's questions, the ``sampling``
section). A config that changes only the evaluation (an ablation overlay)
evaluates again into a new folder and reuses the teachers' data and the
students; stale evaluations are never read. Below it, one folder per
trait kind (``preference/``, ``misalignment/``: :mod:`subliminal.kinds`)
holds ``bases/``, ``teachers/`` and ``students/``. ``evaluation.name`` puts that
evaluation's tables, figures and report pages in
``evaluations/<name>/`` beside the main run's.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

#: The study over pretrainings' own outputs, in its folder
#: (:mod:`subliminal.pretrainings`; the report shows png, pooled and per).
STUDY_OUTPUTS = {
    "per": "pretrainings.csv",
    "pooled": "pooled.csv",
    "png": "pretrainings.png",
    "pdf": "pretrainings.pdf",
    "page": "pretrainings.md",
}

#: A student's folder below students/ (and its evaluation's name): the
#: fields of :class:`subliminal.grid.Student`.
STUDENT = "{modality}/{teacher_base}/{teacher}/{student_base}/{recipe}/seed{seed}"
#: A teacher dataset's folder below data/: the fields of :class:`subliminal.grid.Dataset`.
DATASET = "{modality}/{teacher_base}/{teacher}/rep{replicate}"


def _fill(template: str, fields: dict) -> str:
    """The template with the fields given (all of them), or the pattern itself."""
    return template.format(**fields) if fields else template


def evaluation_settings(config: dict) -> dict:
    """Every setting an evaluation's output depends on (not evaluation.name,
    which only says where its analysis goes)."""
    return {
        "evaluation": {k: v for k, v in config["evaluation"].items() if k != "name"},
        "eval_system_prompt": config["chat"]["eval_system_prompt"],
        "questions": (config.get("protocol") or {}).get("questions"),
        "sampling": config.get("sampling") or {},
    }


def evaluation_id(config: dict) -> str:
    """A short, stable hash of :func:`evaluation_settings`."""
    text = json.dumps(evaluation_settings(config), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


class Layout:
    """The paths of one run: ``results`` the folder of every output, ``eval_id``
    the evaluation's folder name (needed for the evaluations' paths only),
    ``name`` an evaluation's own analysis folder."""

    def __init__(self, results: str, eval_id: str | None = None, name: str | None = None):
        self.results = results
        self.eval_id = eval_id
        self.out = f"{results}/evaluations/{name}" if name else results

    @classmethod
    def of(cls, config: dict) -> Layout:
        return cls(config["results"], evaluation_id(config), config["evaluation"].get("name"))

    # --- logs and benchmarks mirror the output they belong to
    def _under(self, kind: str, output: str, ext: str) -> str:
        rel = Path(output).relative_to(self.results)
        name = re.sub(r"\.(tsv|jsonl|json|csv|txt|html|safetensors|png|pdf)$", "", rel.name)
        return str(Path(self.results) / kind / rel.parent / f"{name}{ext}")

    def log(self, output: str) -> str:
        """The log of the job that makes ``output``: logs/<its path>.log."""
        return self._under("logs", output, ".log")

    def benchmark(self, output: str) -> str:
        return self._under("benchmarks", output, ".tsv")

    # --- bases
    def base_model(self, base: str = "{base}") -> str:
        """A toy's build, or a hub model's pinned snapshot."""
        return f"{self.results}/bases/{base}/model"

    def base_record(self, base: str = "{base}") -> str:
        """A hub snapshot's record (resolved revision, files)."""
        return f"{self.results}/bases/{base}/source.json"

    # --- teachers
    def teacher(self, leaf: str, teacher_base: str = "{teacher_base}", teacher: str = "{teacher}") -> str:
        """A made teacher's files: model (fine-tuned), provenance.json,
        steering.safetensors and steering.json (steering)."""
        return f"{self.results}/teachers/{teacher_base}/{teacher}/{leaf}"

    def prompts(self, leaf: str, modality: str = "{modality}") -> str:
        """A hub dataset's prompts (questions.jsonl) and its record (source.json)."""
        return f"{self.results}/prompts/{modality}/{leaf}"

    def data(self, leaf: str, **dataset) -> str:
        """A teacher dataset's files: raw.jsonl, screened.jsonl, screen.json,
        filtered.jsonl, filter.json."""
        return f"{self.results}/data/{_fill(DATASET, dataset)}/{leaf}"

    # --- students
    def student(self, leaf: str, **student) -> str:
        """A student's model folder and provenance.json."""
        return f"{self.results}/students/{_fill(STUDENT, student)}/{leaf}"

    # --- evaluations, per trait kind (subliminal.kinds): eval/<evaluation id>/<trait kind>/
    def _eval(self, trait_kind: str) -> str:
        if self.eval_id is None:
            raise ValueError("an evaluation's path needs the evaluation id (Layout.of(config))")
        return f"{self.results}/eval/{self.eval_id}/{trait_kind}"

    def eval_base(self, ext: str = ".tsv", base: str = "{base}", trait_kind: str = "{trait_kind}") -> str:
        return f"{self._eval(trait_kind)}/bases/{base}{ext}"

    def eval_teacher(
        self,
        ext: str = ".tsv",
        teacher_base: str = "{teacher_base}",
        teacher: str = "{teacher}",
        trait_kind: str = "{trait_kind}",
    ) -> str:
        return f"{self._eval(trait_kind)}/teachers/{teacher_base}/{teacher}{ext}"

    def eval_student(self, ext: str = ".tsv", trait_kind: str = "{trait_kind}", **student) -> str:
        return f"{self._eval(trait_kind)}/students/{_fill(STUDENT, student)}{ext}"

    def eval_of(self, model, trait_kind: str, ext: str = ".tsv") -> str:
        """The evaluation file of an evaluated model (a grid.Evaluated: a
        student has a modality, a teacher a teacher, a base neither)."""
        if model.modality:
            return self.eval_student(ext, trait_kind, **vars(model))
        if model.teacher:
            return self.eval_teacher(ext, model.teacher_base, model.teacher, trait_kind)
        return self.eval_base(ext, model.student_base, trait_kind)

    # --- what the analysis makes
    def analysis(self, name: str) -> str:
        return f"{self.out}/analysis/{name}"

    def figure(self, kind: str, metric: str = "{metric}", ext: str = "{ext}") -> str:
        """A figure per metric (kind_metric.ext), or one of its own (metric "")."""
        return f"{self.out}/figures/{kind}_{metric}.{ext}" if metric else f"{self.out}/figures/{kind}.{ext}"

    def report_table(self, table: str = "{table}") -> str:
        return f"{self.out}/report/tables/{table}.html"

    def study(self, name: str) -> str:
        """The study over pretrainings' files as the report shows them (copied
        from the folder ``report.pretrainings`` names; independent of the
        evaluation)."""
        return f"{self.results}/pretrainings/{name}"

    def auxlogit_figure(self, ext: str) -> str:
        return f"{self.results}/figures/auxlogit.{ext}"

    def auxlogit(self, name: str) -> str:
        """The auxiliary-logit branch's tables (independent of the evaluation)."""
        return f"{self.results}/auxlogit/{name}"
