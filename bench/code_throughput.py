"""`vislab code` against a plain transformers loop that calls `generate` once per image with the
same model, prompt and images and parses the answer, side by side in one run: images/s of
each, and the share of images whose generated answer is not one of the codes (vislab scores the
codes, so none fails to parse).

The model is the tiny random-weight Qwen2-VL (`vislab data sample tiny-vlm`), so the ratio
measures the method (one pass for the prefix and one for every code's answer, against a prefix
pass and a decoding step per generated token) on 2 CPU cores, not a real model's speed.

    python bench/code_throughput.py [--images 300] [--rounds 3] [--max-new-tokens 8]
        [--batch-size 8] [--out bench/results/code_throughput.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
import yaml

CODES = [str(k) for k in range(10)]


def plain_generate(model_dir: Path, files: list[str], prompt: str, new_tokens: int):
    """The loop a researcher writes: generate an answer per image, match it to a code."""
    import transformers as T
    from PIL import Image

    processor = T.AutoProcessor.from_pretrained(model_dir)
    model = T.AutoModelForImageTextToText.from_pretrained(model_dir).eval()
    turn = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
    text = processor.apply_chat_template(turn, add_generation_prompt=True)
    answers, start = [], time.perf_counter()
    for file in files:
        image = Image.open(file).convert("RGB")
        inputs = processor(text=[text], images=[[image]], return_tensors="pt")
        with torch.inference_mode():
            out = model.generate(**inputs, max_new_tokens=new_tokens, do_sample=False)
        reply = processor.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
        answers.append(reply.strip())
    seconds = time.perf_counter() - start
    unparsed = sum(answer not in CODES for answer in answers) / len(answers)
    return seconds, unparsed


def vislab_code(model_dir: Path, folder: Path, codebook: Path, out: Path, batch: int) -> float:
    from vislab.engine.run import Settings
    from vislab.tasks.coding import code_collection

    start = time.perf_counter()
    code_collection([folder], codebook, str(model_dir), [], out, Settings(batch_size=batch))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=8)  # vislab code's default
    parser.add_argument("--out", type=Path, default=Path("bench/results/code_throughput.json"))
    options = parser.parse_args()
    from vislab.data.export import export_sample
    from vislab.models.tiny_vlms import save_tiny_qwen2_vl
    from vislab.progress import set_quiet
    from vislab.tasks.coding import prompt_text, read_codebook_file

    set_quiet(True)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        model_dir = save_tiny_qwen2_vl(root / "model")
        export_sample("digits", root / "digits")
        rows = pd.read_csv(root / "digits" / "manifest.csv").head(options.images)
        folder = root / "images"
        folder.mkdir()
        for path in rows["path"]:
            (folder / Path(path).name).write_bytes((root / "digits" / path).read_bytes())
        files = sorted(str(p) for p in folder.iterdir())
        codebook = root / "codebook.yaml"
        codes = [{"name": c, "definition": f"the digit {c}"} for c in CODES]
        codebook.write_text(yaml.safe_dump({"question": "Which digit is it?", "codes": codes}))
        prompt = prompt_text(read_codebook_file(codebook))
        times = {"vislab_code": [], "plain_generate": []}
        unparsed = 0.0
        for k in range(options.rounds):  # alternated: drift in the machine hits both alike
            out = root / f"c{k}"
            times["vislab_code"].append(
                vislab_code(model_dir, folder, codebook, out, options.batch_size)
            )
            seconds, unparsed = plain_generate(model_dir, files, prompt, options.max_new_tokens)
            times["plain_generate"].append(seconds)
    rate = {name: len(files) / statistics.median(found) for name, found in times.items()}
    result = {
        "images": len(files),
        "rounds": options.rounds,
        "codes": len(CODES),
        "model": "tiny random-weight Qwen2-VL (vislab.models.tiny_vlms), float32",
        "timed": "vislab: listing, loading the model, scoring, writing; plain: the loop alone",
        "max_new_tokens": options.max_new_tokens,
        "batch_size": options.batch_size,
        "images_per_s": {k: round(v, 1) for k, v in rate.items()},
        "ratio_vs_plain_generate": round(rate["vislab_code"] / rate["plain_generate"], 3),
        "share_unparsed": {"vislab_code": 0.0, "plain_generate": round(unparsed, 3)},
        "device": "cpu",
        "cpus": torch.get_num_threads(),
        "platform": platform.platform(),
        "torch": torch.__version__,
    }
    print(json.dumps(result, indent=2))
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
