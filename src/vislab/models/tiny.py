"""Tiny random-weight CLIP and BLIP models, built offline, to try the commands and to test.

Their weights are random: what they code or caption means nothing. They exist so that every
multimodal command runs on a machine without a network (`vislab data sample tiny-clip`), and so
that the tests exercise the real loading code on a saved model folder. CLIP's tokenizer is a
byte-level BPE with no merges (every character a token); BLIP's a BERT vocabulary of a few words.
"""

from __future__ import annotations

from pathlib import Path


def byte_vocabulary() -> dict[str, int]:
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    characters = list(bytes_to_unicode().values())
    vocabulary = {c: i for i, c in enumerate(characters)}
    vocabulary.update({c + "</w>": len(characters) + i for i, c in enumerate(characters)})
    vocabulary.update({"<|startoftext|>": len(vocabulary), "<|endoftext|>": len(vocabulary) + 1})
    return vocabulary


def save_tiny_clip(
    folder: Path, image_size: int = 32, crop: int | None = None, seed: int = 0
) -> Path:
    import torch
    import transformers as T

    T.utils.logging.disable_progress_bar()
    torch.manual_seed(seed)
    vocabulary = byte_vocabulary()
    tokenizer = T.CLIPTokenizer(vocab=vocabulary, merges=[])
    text = dict(
        vocab_size=len(vocabulary),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=77,
        bos_token_id=vocabulary["<|startoftext|>"],
        eos_token_id=vocabulary["<|endoftext|>"],
        pad_token_id=vocabulary["<|endoftext|>"],
    )
    vision = dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=image_size,
        patch_size=8,
    )
    model = T.CLIPModel(T.CLIPConfig(text_config=text, vision_config=vision, projection_dim=16))
    crop = crop or image_size
    images = T.CLIPImageProcessor(
        size={"shortest_edge": crop}, crop_size={"height": crop, "width": crop}
    )
    model.save_pretrained(folder)
    T.CLIPProcessor(image_processor=images, tokenizer=tokenizer).save_pretrained(folder)
    return Path(folder)


WORDS = [
    "a",
    "an",
    "the",
    "photo",
    "picture",
    "of",
    "red",
    "green",
    "blue",
    "square",
    "circle",
    "dog",
    "cat",
    "on",
    "in",
    "with",
    "small",
    "large",
]


def save_tiny_blip(folder: Path, seed: int = 0) -> Path:
    """A random BLIP captioner; its BERT tokenizer reads a vocab.txt written here."""
    import torch
    import transformers as T

    T.utils.logging.disable_progress_bar()
    torch.manual_seed(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]", *WORDS]
    (folder / "vocab.txt").write_text("\n".join(vocabulary) + "\n")
    tokenizer = T.BertTokenizer.from_pretrained(str(folder), bos_token="[DEC]")
    text = dict(
        vocab_size=len(vocabulary),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=64,
        bos_token_id=tokenizer.bos_token_id,
        sep_token_id=tokenizer.sep_token_id,
        eos_token_id=tokenizer.sep_token_id,
        pad_token_id=0,
    )
    vision = dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=32,
        patch_size=8,
    )
    model = T.BlipForConditionalGeneration(
        T.BlipConfig(text_config=text, vision_config=vision, projection_dim=16)
    )
    images = T.BlipImageProcessor(size={"height": 32, "width": 32})
    model.save_pretrained(folder)
    T.BlipProcessor(image_processor=images, tokenizer=tokenizer).save_pretrained(folder)
    return folder


def save_tiny_open_clip(folder: Path, seed: int = 0) -> Path:
    """A random open_clip model in open_clip's local-dir layout (config + safetensors weights)."""
    import json

    import open_clip
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "embed_dim": 16,
        "vision_cfg": {
            "image_size": 32,
            "layers": 2,
            "width": 32,
            "patch_size": 8,
            "head_width": 16,
        },
        "text_cfg": {
            "context_length": 77,
            "vocab_size": 49408,
            "width": 32,
            "heads": 2,
            "layers": 2,
        },
    }
    model = open_clip.CLIP(**config)
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()},
        str(folder / "open_clip_model.safetensors"),
    )
    preprocess = {
        "mean": [0.48145466, 0.4578275, 0.40821073],
        "std": [0.26862954, 0.26130258, 0.27577711],
    }
    (folder / "open_clip_config.json").write_text(
        json.dumps({"model_cfg": config, "preprocess_cfg": preprocess})
    )
    return folder
