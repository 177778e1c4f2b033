"""`vislab code`: a collection coded from the codebook by a vision-language model, on the
collection engine.

The codebook is the file the coding page shows people (`codes:` with `name`, `definition`;
optional top-level `question:` and `instructions:`). Each prompt (vislab's wording of the
codebook, or a `--prompt` template in which `{codes}` stands for the codes with their
definitions and `{question}` for the question) is put to the model with the image, and every
code's name is scored as the answer (`models/vlm.py`): `score_<code>` is the probability of that
answer normalised over the codes, `prediction` their argmax. With several prompts each has its
`prediction_<k>`, and `score_*`/`prediction` come from the prompts' mean probabilities.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from vislab.engine.loop import POSITION, SKIP_REASON
from vislab.errors import InputError
from vislab.predictions import predictions_frame, score_column

QUESTION = "Which code applies to the image?"
ANSWER = "Answer with the name of one code only."


@dataclass
class Codebook:
    codes: list[str]
    definitions: list[str]
    question: str = QUESTION
    instructions: str = ""
    sha256: str = ""
    path: str = ""
    examples: list[tuple[str, str]] = field(default_factory=list)  # (code, image file)


def read_codebook_file(path: str | Path) -> Codebook:
    """The codebook's codes (checked as the coding page checks them), question and
    instructions, and the file's sha256."""
    import yaml

    from vislab.report.coding_page import read_codebook

    path = Path(path)
    codes = read_codebook(path)
    content = yaml.safe_load(path.read_text())
    top = content if isinstance(content, dict) else {}
    return Codebook(
        [c.name for c in codes],
        [c.definition for c in codes],
        str(top.get("question") or QUESTION).strip(),
        str(top.get("instructions") or "").strip(),
        hashlib.sha256(path.read_bytes()).hexdigest(),
        str(path),
        _examples(top.get("codes") or content, path),
    )


def _examples(entries, path: Path) -> list[tuple[str, str]]:
    """Each code's example images (beside the codebook: read_codebook has checked that they
    stay in its folder and decode), as (code, file)."""
    import os

    folder = path.resolve().parent
    return [
        (str(entry["name"]).strip(), os.path.normpath(folder / str(file)))
        for entry in entries
        for file in entry.get("examples") or []
    ]


def codes_text(codebook: Codebook) -> str:
    return "\n".join(
        f"- {name}: {definition}" if definition else f"- {name}"
        for name, definition in zip(codebook.codes, codebook.definitions, strict=True)
    )


def prompt_text(codebook: Codebook, template: str | None = None, source: str = "") -> str:
    """The prompt: `template` with `{codes}` and `{question}` filled in, or vislab's wording
    (the question, the codes with their definitions, the instructions, how to answer)."""
    if template is None:
        parts = [codebook.question, "Codes:\n" + codes_text(codebook), codebook.instructions]
        return "\n\n".join(p for p in [*parts, ANSWER] if p)
    if "{codes}" not in template:
        raise InputError(
            f"{source or 'the prompt'}: no {{codes}} in the template; write {{codes}} where "
            "the codes and their definitions go (and {question} for the question)."
        )
    return template.replace("{codes}", codes_text(codebook)).replace(
        "{question}", codebook.question
    )


class CodeScores(torch.nn.Module):
    """A vision-language model over a batch of images: per prompt, the codes' probabilities."""

    def __init__(self, vlm, codes: list[str], prompts: list[str], examples=()) -> None:
        from vislab.models.vlm import answer_tokens, messages

        super().__init__()
        self.vlm, self.model, self.codes, self.prompts = vlm, vlm.model, list(codes), prompts
        self.examples = list(examples)  # (code, image): shown first, few-shot
        shown = tuple(code for code, _ in self.examples)
        self.answers = [
            answer_tokens(vlm.processor, messages(p, shown), self.codes) for p in prompts
        ]

    def predict_rows(self, batch) -> pd.DataFrame:
        """The batch's rows; where the model's processor rejects the batch, image by image,
        an image it rejects alone set aside with the reason (`skip_reason`)."""
        images, positions = batch
        try:
            return self._rows(images, positions)
        except (ValueError, RuntimeError, TypeError):
            pass  # which image: each alone
        parts = []
        for image, position in zip(images, positions, strict=True):
            try:
                parts.append(self._rows([image], [position]))
            except (ValueError, RuntimeError, TypeError) as error:
                why = f"the model's processor cannot take it: {type(error).__name__}: {error}"
                parts.append(pd.DataFrame({POSITION: [position], SKIP_REASON: [why]}))
        return pd.concat(parts, ignore_index=True)

    def _rows(self, images: list, positions: list) -> pd.DataFrame:
        from vislab.models.vlm import answer_log_probs

        per_prompt = np.zeros((len(self.prompts), len(images), len(self.codes)))
        for k, (prompt, answers) in enumerate(zip(self.prompts, self.answers, strict=True)):
            log_probs = answer_log_probs(self.vlm, images, prompt, answers, self.examples)
            per_prompt[k] = np.exp(log_probs - log_probs.max(axis=1, keepdims=True))
        per_prompt /= per_prompt.sum(axis=2, keepdims=True)
        rows = pd.DataFrame(per_prompt.mean(axis=0), columns=[score_column(c) for c in self.codes])
        if len(self.prompts) > 1:
            for k in range(len(self.prompts)):
                picked = per_prompt[k].argmax(axis=1)
                rows[f"prediction_{k + 1}"] = [self.codes[j] for j in picked]
        rows.insert(0, POSITION, list(positions))
        return rows


@dataclass
class CodeJob:
    """One image in, the codes' probabilities out (the predictions-table contract)."""

    module: CodeScores
    codes: list[str]
    precision: str = "32-true"
    accelerator: str = "auto"
    what: str = "code"
    provenance: dict = field(default_factory=dict)  # written into the folder's _progress.json

    def read(self, file):
        from vislab.data.images import decode

        return decode(file)

    def collate(self, inputs: list, positions: list[int]):
        return list(inputs), list(positions)

    def table(self, rows: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
        scores = [score_column(c) for c in self.codes]
        if not len(rows):
            rows = pd.DataFrame({c: pd.Series(dtype=float) for c in [POSITION, *scores]})
        read = items.iloc[rows[POSITION].to_numpy(int)]
        found = predictions_frame(read, self.codes, rows[scores].to_numpy(np.float32))
        found = found.assign(prediction=found["prediction"].astype("str"))
        agreement = [c for c in rows.columns if c.startswith("prediction_")]
        at = list(found.columns).index("prediction") + 1
        for offset, column in enumerate(agreement):
            found.insert(at + offset, column, rows[column].astype(str).to_numpy())
        return found


def code_collection(
    source, codebook_file, model: str, prompt_files, out, settings, examples: bool = False
):
    """`vislab code`: the source's images coded by `model` from the codebook (one prompt per
    `--prompt` file, or vislab's wording; with `examples`, the codebook's example images shown
    first) through the collection engine into `out`. Returns (Outcome, provenance)."""
    from vislab.data.images import IMAGE_SUFFIXES, file_digest
    from vislab.engine.run import run_job
    from vislab.engine.sources import list_source
    from vislab.models.vlm import load_vlm
    from vislab.progress import note
    from vislab.tasks.jobs import model_identity

    codebook = read_codebook_file(codebook_file)
    templates = [(str(f), _read_prompt(f)) for f in prompt_files or []] or [("", None)]
    prompts = [prompt_text(codebook, text, name) for name, text in templates]
    vlm = load_vlm(model)
    note(f"listing {', '.join(map(str, source))}")
    listing = list_source(list(source), set(IMAGE_SUFFIXES))
    shown = _example_images(codebook) if examples else []
    record = provenance(vlm, codebook, templates, prompts)
    record["examples"] = [
        {"code": code, "path": file, "sha256": file_digest(file)}
        for code, file in (codebook.examples if examples else [])
    ]
    scores = CodeScores(vlm, codebook.codes, prompts, shown)
    job = CodeJob(scores, codebook.codes, provenance=record)
    identity = {
        "command": "code",
        **model_identity(model),
        "codebook_sha256": codebook.sha256,
        "prompts_sha256": [p["sha256"] for p in record["prompts"]],
        "examples": bool(examples),
    }
    return run_job(job, listing, out, settings, identity), record


def _example_images(codebook: Codebook) -> list:
    from vislab.data.images import decode

    if not codebook.examples:
        raise InputError(
            f"{codebook.path}: --examples, but no code has examples: give codes "
            "`examples: [image files beside the codebook]`."
        )
    return [(code, decode(file)) for code, file in codebook.examples]


def _read_prompt(path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: cannot read the prompt template ({error}).") from None


def provenance(vlm, codebook: Codebook, templates, prompts: list[str]) -> dict:
    """What made the codes: the model (name and revision, or its weight files' sha256), the
    codebook's sha256, each prompt's text and sha256, the versions of vislab and its
    libraries."""
    from vislab.data.images import file_digest
    from vislab.runs import library_versions

    folder = Path(vlm.name)
    weights = {}
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            if path.suffix in (".safetensors", ".bin"):
                weights[path.name] = file_digest(path)
    revision = getattr(vlm.model.config, "_commit_hash", None)
    return {
        "model": vlm.name,
        "model_revision": revision,
        "weights_sha256": weights,
        "codebook": {"path": codebook.path, "sha256": codebook.sha256},
        "codes": codebook.codes,
        "prompts": [
            {"file": name or None, "text": text, "sha256": _sha256(text)}
            for (name, _), text in zip(templates, prompts, strict=True)
        ],
        "versions": library_versions(),
    }


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def prompt_stability(table: pd.DataFrame, prompts: int, bootstrap: int = 1000) -> dict:
    """How much the codes depend on the prompt's wording: Krippendorff's alpha across the
    prompts' predictions (`vislab agreement`'s code, each prompt a coder) and the share of
    images whose code changes with the wording."""
    from vislab.evaluation.agreement import agreement

    columns = [f"prediction_{k + 1}" for k in range(prompts)]
    found = agreement(table[columns].astype(str), columns, bootstrap=bootstrap)
    changed = (table[columns].astype(str).nunique(axis=1) > 1).mean() if len(table) else 0.0
    return {
        "krippendorff_alpha": found["krippendorff_alpha"],
        "share_changed": float(changed),
        "n": int(len(table)),
    }
