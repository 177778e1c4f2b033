"""Tiny random-weight vision-language models of two families (Qwen2-VL; Idefics3, which SmolVLM
is), built offline from configs, each with a word-level tokenizer and a chat template made here.

Their weights are random: what they answer means nothing. They exist so that `vislab code` runs
on a machine without a network and so that the tests load a saved folder through transformers'
Auto classes exactly as a downloaded model is loaded.
"""

from __future__ import annotations

from pathlib import Path

WORDS = [
    "a", "an", "the", "image", "photo", "code", "codes", "which", "applies", "answer", "with",
    "one", "of", "is", "are", "visible", "police", "protest", "crowd", "none", "car", "sign",
    "person", "people", "yes", "no", "red", "green", "blue", "officer", "digit", "handwritten",
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", ":", ".", ",", "?", "-",
]  # fmt: skip

QWEN_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% else %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
IDEFICS_TEMPLATE = (
    "<|im_start|>{% for m in messages %}{{ m['role'] | capitalize }}:"
    "{% if m['content'] is string %} {{ m['content'] }}{% else %}{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<image>{% else %} {{ c['text'] }}{% endif %}{% endfor %}"
    "{% endif %}<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}"
)


def _tokenizer(special: list[str], words: list[str], **tokens):
    """A word-level tokenizer (whitespace and punctuation split) over `special` + `words`."""
    import transformers as T
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocabulary = {token: k for k, token in enumerate([*special, "[UNK]", *words])}
    model = Tokenizer(models.WordLevel(vocab=vocabulary, unk_token="[UNK]"))
    model.pre_tokenizer = pre_tokenizers.Whitespace()
    named = set(tokens.values())
    extra = [s for s in special if s not in named]
    return T.PreTrainedTokenizerFast(
        tokenizer_object=model, unk_token="[UNK]", extra_special_tokens=extra, **tokens
    )


def _text_config(tokenizer, **extra) -> dict:
    """A language model of width 32 and two layers over the tokenizer's vocabulary, its
    special ids inside it (the families' defaults point past a small vocabulary)."""
    return dict(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=1024,
        bos_token_id=tokenizer.convert_tokens_to_ids("<|im_start|>"),
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **extra,
    )


def save_tiny_qwen2_vl(folder: Path, seed: int = 0) -> Path:
    """A random Qwen2-VL (~90k parameters: 2 text layers of width 32, one vision block)."""
    import torch
    import transformers as T

    T.utils.logging.disable_progress_bar()
    torch.manual_seed(seed)
    special = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>"]
    special += ["<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]
    words = ["user", "assistant", "system", *WORDS]
    tokenizer = _tokenizer(special, words, pad_token="<|endoftext|>", eos_token="<|im_end|>")
    ids = tokenizer.convert_tokens_to_ids
    rope = {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]}
    text = _text_config(tokenizer, rope_parameters=rope)
    vision = dict(depth=1, embed_dim=32, hidden_size=32, num_heads=2, patch_size=14)
    config = T.Qwen2VLConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=ids("<|image_pad|>"),
        video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"),
        vision_end_token_id=ids("<|vision_end|>"),
    )
    images = T.Qwen2VLImageProcessor(min_pixels=56 * 56, max_pixels=112 * 112)
    processor = T.Qwen2VLProcessor(
        image_processor=images,
        tokenizer=tokenizer,
        video_processor=T.Qwen2VLVideoProcessor(),
        chat_template=QWEN_TEMPLATE,
    )
    return _save(T.Qwen2VLForConditionalGeneration(config), processor, folder)


def save_tiny_idefics3(folder: Path, seed: int = 0) -> Path:
    """A random Idefics3 (SmolVLM's architecture): a Llama of width 32 and a 32 px SigLIP."""
    import torch
    import transformers as T

    T.utils.logging.disable_progress_bar()
    torch.manual_seed(seed)
    special = ["<|endoftext|>", "<|im_start|>", "<end_of_utterance>"]
    special += ["<fake_token_around_image>", "<image>", "<global-img>"]
    words = ["User", "Assistant", *WORDS]
    tokenizer = _tokenizer(
        special,
        words,
        pad_token="<|endoftext|>",
        eos_token="<end_of_utterance>",
        bos_token="<|im_start|>",
    )
    ids = tokenizer.convert_tokens_to_ids
    text = _text_config(tokenizer)
    vision = dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        image_size=32,
        patch_size=8,
    )
    config = T.Idefics3Config(
        text_config=text,
        vision_config=vision,
        scale_factor=2,
        image_token_id=ids("<image>"),
        pad_token_id=ids("<|endoftext|>"),
    )
    images = T.Idefics3ImageProcessor(
        size={"longest_edge": 32}, max_image_size={"longest_edge": 32}, do_image_splitting=False
    )
    processor = T.Idefics3Processor(
        image_processor=images, tokenizer=tokenizer, image_seq_len=4, chat_template=IDEFICS_TEMPLATE
    )
    return _save(T.Idefics3ForConditionalGeneration(config), processor, folder)


def _save(model, processor, folder: Path) -> Path:
    folder = Path(folder)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder
