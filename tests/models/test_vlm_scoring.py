"""Scored answers from vision-language models of two families (Qwen2-VL; Idefics3, SmolVLM's
architecture), tiny random models saved and loaded back through the Auto classes: each answer's
log-probability from the prefix's cache equals the one from a full forward pass over the prompt
followed by that answer, for answers of one and several tokens and answers that begin alike."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from vislab.errors import InputError
from vislab.models.tiny_vlms import save_tiny_idefics3, save_tiny_qwen2_vl
from vislab.models.vlm import answer_log_probs, answer_tokens, load_vlm, messages

ANSWERS = ["police", "police car", "none", "protest crowd", "people"]


@pytest.fixture(scope="module", params=["qwen2_vl", "idefics3"])
def vlm(request, tmp_path_factory):
    save = {"qwen2_vl": save_tiny_qwen2_vl, "idefics3": save_tiny_idefics3}[request.param]
    return load_vlm(str(save(tmp_path_factory.mktemp(request.param) / "model")))


def _full_pass(vlm, image, prompt: str, tokens: list[int], examples=()) -> float:
    """The reference: the prompt and the answer in one sequence, image(s) included."""
    processor = vlm.processor
    turns = messages(prompt, tuple(code for code, _ in examples))
    text = processor.apply_chat_template(turns, add_generation_prompt=True)
    shown = [picture for _, picture in examples]
    inputs = processor(text=[text], images=[[*shown, image]], return_tensors="pt")
    start = inputs["input_ids"].shape[1]
    ids = torch.cat([inputs["input_ids"], torch.tensor([tokens])], dim=1)
    inputs["input_ids"] = ids
    inputs["attention_mask"] = torch.ones_like(ids)
    if "mm_token_type_ids" in inputs:
        more = torch.zeros(1, len(tokens), dtype=inputs["mm_token_type_ids"].dtype)
        inputs["mm_token_type_ids"] = torch.cat([inputs["mm_token_type_ids"], more], dim=1)
    with torch.inference_mode():
        log_probs = torch.log_softmax(vlm.model(**inputs).logits[0].float(), dim=-1)
    return float(sum(log_probs[t - 1, ids[0, t]] for t in range(start, ids.shape[1])))


def test_answers_scored_behind_the_prefix_equal_full_passes(vlm):
    rng = np.random.default_rng(0)
    prompt = "which code applies ? answer with one of : police , none ."
    tokens = answer_tokens(vlm.processor, messages(prompt), ANSWERS)
    assert len(tokens[1]) == len(tokens[0]) + 1  # "police car" is one word longer
    end = tokens[0][-1]
    assert all(t[-1] == end for t in tokens)  # every answer ends the model's turn
    sizes = [(40, 30), (64, 64), (90, 50), (30, 90)]  # prefixes of several lengths, padded
    images = [Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)) for w, h in sizes]
    found = answer_log_probs(vlm, images, prompt, tokens)
    expected = [[_full_pass(vlm, image, prompt, t) for t in tokens] for image in images]
    np.testing.assert_allclose(found, expected, rtol=1e-4, atol=5e-4)
    np.testing.assert_array_equal(found, answer_log_probs(vlm, images, prompt, tokens))
    alone = [answer_log_probs(vlm, [image], prompt, tokens)[0] for image in images]
    np.testing.assert_allclose(found, alone, rtol=1e-4, atol=5e-4)  # batched as alone


def test_what_is_not_an_image_text_to_text_model_is_named(tmp_path):
    from vislab.models.tiny import save_tiny_clip

    clip = save_tiny_clip(tmp_path / "clip")
    with pytest.raises(InputError, match="a clip model, not an image-text-to-text one"):
        load_vlm(str(clip))
    with pytest.raises(InputError, match="not a model folder"):
        load_vlm(str(tmp_path / "nothing"))


def test_a_model_without_a_chat_template_is_refused_with_what_to_use(tmp_path):
    folder = save_tiny_qwen2_vl(tmp_path / "base")
    (folder / "chat_template.jinja").unlink()  # a base (not instruct) model has none
    with pytest.raises(InputError, match="no chat template"):
        load_vlm(str(folder))


def test_few_shot_examples_are_turns_before_the_image(vlm):
    """The codebook's examples as (image, prompt) -> code turns before the image to code: the
    scores equal full passes over the same conversation."""
    rng = np.random.default_rng(1)
    pictures = [Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)) for _ in "ab"]
    examples = [("police", pictures[0]), ("none", pictures[1])]
    prompt = "which code applies ?"
    turns = messages(prompt, ("police", "none"))
    assert [t["role"] for t in turns] == ["user", "assistant", "user", "assistant", "user"]
    tokens = answer_tokens(vlm.processor, turns, ANSWERS)
    images = [Image.fromarray(rng.integers(0, 255, (50, 60, 3), dtype=np.uint8)) for _ in "cd"]
    found = answer_log_probs(vlm, images, prompt, tokens, examples)
    expected = [[_full_pass(vlm, im, prompt, t, examples) for t in tokens] for im in images]
    np.testing.assert_allclose(found, expected, rtol=1e-4, atol=5e-4)
    plain = answer_log_probs(
        vlm, images, prompt, answer_tokens(vlm.processor, messages(prompt), ANSWERS)
    )
    assert not np.allclose(found, plain)  # the examples are read
