"""Vision-language models that answer with a code: loaded through transformers' Auto classes
(`AutoModelForImageTextToText`, `AutoProcessor` and the processor's chat template), and each
code's answer scored instead of generated.

For a batch of images and one prompt, the model reads each image with the prompt once (the
prefix, its key-value cache kept), and the answers (each code's name followed by the end of
the model's turn) are then read behind that cache as one batch: an answer's log-probability is
the sum of its tokens' log-probabilities. No text is generated, so no answer fails to parse,
and the same inputs give the same scores. The answer's tokens are those the chat template gives
the assistant's turn holding it (what the model would have to write), cut after the end of turn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from vislab.errors import InputError

TURN_ENDS = ("<|im_end|>", "<end_of_utterance>", "<end_of_turn>", "<|eot_id|>", "<|end|>")


@dataclass
class VisionLanguageModel:
    model: Any
    processor: Any
    name: str


def load_vlm(name: str) -> VisionLanguageModel:
    """A saved folder or a Hub name of an image-text-to-text model, with its processor; an
    error that says what the folder holds and what is needed otherwise."""
    import transformers as T
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING

    try:
        config = T.AutoConfig.from_pretrained(name)
    except (OSError, ValueError) as error:
        raise InputError(
            f"{name}: not a model folder or Hub name transformers can read ({error})."
        ) from None
    if type(config) not in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING:
        raise InputError(
            f"{name}: a {config.model_type} model, not an image-text-to-text one: give a model "
            "that transformers' AutoModelForImageTextToText loads (Qwen2/2.5/3-VL, SmolVLM, "
            "Idefics3, PaliGemma, Gemma 3, LLaVA-OneVision, ...)."
        )
    processor = T.AutoProcessor.from_pretrained(name)
    if not getattr(processor, "chat_template", None):
        raise InputError(
            f"{name}: the processor has no chat template, so vislab cannot word the codebook as "
            "the model was trained to read it: use the model's chat (instruct) version."
        )
    T.utils.logging.disable_progress_bar()  # vislab shows its own progress
    model = T.AutoModelForImageTextToText.from_pretrained(name).eval()
    return VisionLanguageModel(model, processor, str(name))


def messages(prompt: str, examples: tuple[str, ...] = ()) -> list[dict]:
    """The conversation: for each example (its code), a user turn with its image and the
    prompt and the assistant's answer (few-shot); then the user turn of the image to code."""

    def asked() -> dict:
        return {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}

    turns = []
    for code in examples:
        answer = {"role": "assistant", "content": [{"type": "text", "text": code}]}
        turns += [asked(), answer]
    return [*turns, asked()]


def answer_tokens(processor, turn: list[dict], answers: list[str]) -> list[list[int]]:
    """Each answer's tokens as they follow the generation prompt in the assistant's turn,
    through the end of that turn."""
    tokenizer = processor.tokenizer
    asked = processor.apply_chat_template(turn, add_generation_prompt=True)
    before = tokenizer(asked, add_special_tokens=False)["input_ids"]
    ends = {tokenizer.eos_token_id, *tokenizer.convert_tokens_to_ids(list(TURN_ENDS))}
    ends.discard(tokenizer.unk_token_id)
    found = []
    for answer in answers:
        reply = {"role": "assistant", "content": [{"type": "text", "text": answer}]}
        whole = processor.apply_chat_template([*turn, reply])
        tokens = tokenizer(whole, add_special_tokens=False)["input_ids"]
        if tokens[: len(before)] != before:
            raise InputError(
                f"the chat template words the answer '{answer}' so that the prompt before it "
                "changes: vislab cannot score it."
            )
        tokens = tokens[len(before) :]
        stop = next((k for k, t in enumerate(tokens) if t in ends), len(tokens) - 1)
        found.append(tokens[: stop + 1])
    return found


@torch.inference_mode()
def answer_log_probs(
    vlm: VisionLanguageModel, images: list, prompt: str, answers, examples=()
) -> np.ndarray:
    """log P(answer | image, prompt), (images, answers), for answers given as token lists: the
    images and the prompt read once as one left-padded batch, then every image's answers read
    behind its cache as one batch. `examples`: (code, image) pairs shown first, as turns of
    the conversation (few-shot)."""
    model, processor = vlm.model, vlm.processor
    turns = messages(prompt, tuple(code for code, _ in examples))
    text = processor.apply_chat_template(turns, add_generation_prompt=True)
    shown = [image for _, image in examples]
    processor.tokenizer.padding_side = "left"  # every prefix ends where its answers begin
    inputs = processor(
        text=[text] * len(images),
        images=[[*shown, image] for image in images],
        padding=True,
        return_tensors="pt",
    )
    inputs = inputs.to(model.device)
    prefix = model(**inputs, use_cache=True)
    first = torch.log_softmax(prefix.logits[:, -1].float(), dim=-1)
    count, longest = len(answers), max(len(a) for a in answers)
    ids = torch.zeros((count, longest), dtype=torch.long)
    mask = torch.zeros((count, longest), dtype=torch.float32)
    for k, tokens in enumerate(answers):
        ids[k, : len(tokens)], mask[k, : len(tokens)] = torch.tensor(tokens), 1
    rows = len(images) * count
    ids, mask = ids.repeat(len(images), 1).to(model.device), mask.repeat(len(images), 1)
    cache = getattr(prefix, "cache", None) or prefix.past_key_values  # renamed in transformers 5
    cache.batch_repeat_interleave(count)
    length = inputs["input_ids"].shape[1]
    steps = torch.arange(length, length + longest, device=model.device)
    seen = inputs["attention_mask"].repeat_interleave(count, dim=0)
    after = model(
        input_ids=ids,
        **{_cache_keyword(model): cache},
        attention_mask=torch.cat([seen, torch.ones_like(ids)], dim=1),
        position_ids=_positions(model, steps, rows, count),
        cache_position=steps,
    )
    rest = torch.log_softmax(after.logits[:, :-1].float(), dim=-1)
    later = rest.gather(-1, ids[:, 1:, None]).squeeze(-1).cpu() * mask[:, 1:]
    opening = first.repeat_interleave(count, dim=0).gather(1, ids[:, :1]).squeeze(1).cpu()
    return (opening + later.sum(dim=1)).view(len(images), count).double().numpy()


def _cache_keyword(model) -> str:
    import inspect

    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def _positions(model, steps: torch.Tensor, rows: int, count: int) -> torch.Tensor:
    """The answers' positions after the prefix: plain ones (rotary positions are relative, so
    a left-padded prefix's shift does not matter), or for models with multimodal rotary
    positions (Qwen2/2.5/3-VL) each image's offset added on all three axes."""
    inner = getattr(model, "model", None)
    deltas = getattr(inner, "rope_deltas", None)
    positions = steps.view(1, -1).expand(rows, -1)
    if deltas is None:
        return positions
    offsets = deltas.view(-1).repeat_interleave(count).view(-1, 1).to(positions.device)
    return (positions + offsets).unsqueeze(0).expand(3, -1, -1)
