"""`vislab data inspect`'s near-copy search beside imagededup's hash (PHash) and CNN modes, side
by side in one run on the same folder of images (distinct drawn pictures, 256 px, with
re-encoded and resized copies of a tenth of them injected): seconds, images/s per core,
peak memory (each tool in its own process) and the copies found (recall and precision against
the injected ones), at each --images size; then the cost of 1 M images projected from the
growth measured between the sizes.

imagededup's CNN mode runs its own MobileNetV3-small with random weights (its download needs a
network): its speed is the trained model's, its copies mean nothing and are not scored.

    python bench/inspect_speed.py [--images 2000 10000] [--cnn-up-to 10000]
        [--out bench/results/inspect_speed.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

COPY_SHARE = 0.1
SIDE = 256


def picture(rng: np.random.Generator):
    """A distinct image: a random two-colour gradient with 40 random ellipses, polygons and
    lines in random colours, and some noise (every image its own; corners for keypoints)."""
    from PIL import Image, ImageDraw

    ramp = np.linspace(0, 1, SIDE)[None, :, None]
    a, b = rng.integers(0, 255, (2, 3))
    pixels = (a + (b - a) * ramp).repeat(SIDE, axis=0)
    image = Image.fromarray(pixels.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(40):
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        x, y = rng.integers(0, SIDE, 2)
        w, h = rng.integers(8, SIDE // 3, 2)
        kind = rng.integers(0, 3)
        if kind == 0:
            draw.ellipse((x, y, x + w, y + h), fill=colour)
        elif kind == 1:
            draw.polygon(
                [tuple(int(v) for v in rng.integers(0, SIDE, 2)) for _ in range(4)], fill=colour
            )
        else:
            draw.line((x, y, x + w, y + h), fill=colour, width=int(rng.integers(1, 6)))
    noisy = np.asarray(image, dtype=np.int16) + rng.normal(0, 6, (SIDE, SIDE, 3)).astype(np.int16)
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def make_folder(root: Path, count: int) -> dict[str, str]:
    """`count` distinct images and copies of a tenth of them (re-encoded at quality 60, or
    resized to 150 px and re-encoded); {copy name: original name}."""
    from PIL import Image

    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    originals = int(count / (1 + COPY_SHARE))
    for k in range(originals):
        picture(rng).save(root / f"{k:07d}.jpg", quality=90)
    truth = {}
    for n, k in enumerate(rng.choice(originals, count - originals, replace=False)):
        image = Image.open(root / f"{k:07d}.jpg")
        copy = image.resize((150, 150)) if n % 2 else image
        copy.save(root / f"copy{n:07d}.jpg", quality=60)
        truth[f"copy{n:07d}.jpg"] = f"{k:07d}.jpg"
    return truth


def score(pairs: set[tuple[str, str]], truth: dict[str, str]) -> dict:
    """Recall over the injected copies; precision over the pairs found (a pair of two crops
    that happen to overlap counts against it)."""
    expected = {tuple(sorted(p)) for p in truth.items()}
    found = {tuple(sorted(p)) for p in pairs}
    hit = len(expected & found)
    return {
        "recall": round(hit / len(expected), 4),
        "precision": round(hit / len(found), 4) if found else None,
        "pairs_found": len(found),
    }


def run_vislab(folder: Path) -> dict:
    from vislab.data import inspection
    from vislab.data.sources import source_from_path
    from vislab.progress import set_quiet

    set_quiet(True)
    table = source_from_path(folder, require_label=False)  # a folder of loose images
    times = {}
    start = time.perf_counter()
    centres = inspection.vocabulary_of(table)
    times["vocabulary"] = time.perf_counter() - start
    start = time.perf_counter()
    processes = len(os.sched_getaffinity(0))  # as `vislab data inspect` runs by default
    seen = inspection.see(table, centres, processes=processes)
    times["look_and_words"] = time.perf_counter() - start
    words = []  # the word search's seconds, timed apart from the hash search and confirmation
    search = inspection.word_candidates

    def word_candidates(*args):
        began = time.perf_counter()
        found = search(*args)
        words.append(time.perf_counter() - began)
        return found

    inspection.word_candidates = word_candidates
    start = time.perf_counter()
    clusters = inspection.copies(table, seen, len(centres))
    times["word_search"] = sum(words)
    times["hash_and_confirm"] = time.perf_counter() - start - sum(words)
    names = [Path(p).name for p in table.frame["path"]]
    pairs = set()
    for cluster in np.unique(clusters):
        members = np.flatnonzero(clusters == cluster)
        pairs |= {(names[a], names[b]) for a in members for b in members if a < b}
    return {"seconds": times, "pairs": sorted(pairs)}


def run_imagededup(folder: Path, mode: str) -> dict:
    import logging

    logging.disable(logging.INFO)
    times = {}
    if mode == "phash":
        from imagededup.methods import PHash

        method = PHash(verbose=False)
    else:
        import torch
        from imagededup.methods import CNN
        from imagededup.utils.models import CustomModel, MobilenetV3
        from torchvision.models import mobilenet_v3_small

        network = mobilenet_v3_small(weights=None).eval()
        model = torch.nn.Sequential(network.features, network.avgpool, torch.nn.Flatten())
        method = CNN(
            verbose=False,
            model_config=CustomModel(
                name="mobilenet_v3_small (random weights)",
                model=model,
                transform=MobilenetV3.transform,
            ),
        )
    start = time.perf_counter()
    encodings = method.encode_images(image_dir=str(folder))
    times["encode"] = time.perf_counter() - start
    start = time.perf_counter()
    if mode == "phash":
        found = method.find_duplicates(encoding_map=encodings, max_distance_threshold=7)
    else:
        found = method.find_duplicates(encoding_map=encodings, min_similarity_threshold=0.9)
    times["search"] = time.perf_counter() - start
    pairs = sorted({tuple(sorted((a, b))) for a, others in found.items() for b in others})
    return {"seconds": times, "pairs": pairs}


def child(tool: str, folder: Path) -> None:
    """One tool in this process: its times, pairs and peak memory, as JSON on stdout."""
    result = run_vislab(folder) if tool == "vislab" else run_imagededup(folder, tool)
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(result))


def measure(tool: str, folder: Path, truth: dict[str, str], images: int) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--child", tool, "--folder", str(folder)],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    seconds = result["seconds"]
    total = sum(seconds.values())
    cores = os.cpu_count() or 1
    entry = {
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
        "total_s": round(total, 2),
        "images_per_s_per_core": round(images / total / cores, 1),
        "peak_rss_mb": result["peak_rss_mb"],
    }
    if tool != "cnn":
        entry.update(score({tuple(p) for p in result["pairs"]}, truth))
    return entry


def projection(sizes: list[int], runs: dict, target: int = 1_000_000) -> dict:
    """Each phase's seconds at `target` images from the growth between the two largest sizes
    (seconds ~ n^k, k fitted), with the exponent shown: k near 1 is linear, near 2 quadratic.
    A phase whose work grows with the images (all but the vocabulary, learnt from a sample of
    a fixed size) is projected at k of 1 or more: a k under 1 between two small sizes is fixed
    costs (starting processes, compiling) thinning out, not work that shrinks. The word
    search, quadratic at scale but linear at these sizes (its all-pairs products are a small
    part there), is taken where bench/inspect_memory.py measured it at `target`."""
    if len(sizes) < 2:
        return {}
    small, large = sizes[-2], sizes[-1]
    out = {}
    for phase, seconds in runs[str(large)]["vislab"]["seconds"].items():
        before = max(runs[str(small)]["vislab"]["seconds"][phase], 1e-3)
        power = float(np.log(max(seconds, 1e-3) / before) / np.log(large / small))
        projected = power if phase == "vocabulary" else max(power, 1.0)
        out[phase] = {
            "exponent": round(power, 2),
            "seconds": round(seconds * (target / large) ** projected),
        }
    measured = measured_word_search(target)
    if measured is not None:
        out["word_search"] = {"seconds": measured, "from": "bench/inspect_memory.py"}
    out["total_s"] = sum(phase["seconds"] for phase in out.values())
    return out


def measured_word_search(images: int) -> float | None:
    """The word search's seconds at `images` in bench/results/inspect_memory.json, if there."""
    path = Path(__file__).parent / "results" / "inspect_memory.json"
    if not path.exists():
        return None
    step = json.loads(path.read_text())["runs"].get(str(images), {}).get("steps", {})
    return step.get("word_search", {}).get("seconds")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, nargs="+", default=[2000, 10000])
    parser.add_argument("--cnn-up-to", type=int, default=10000)
    parser.add_argument("--out", type=Path, default=Path("bench/results/inspect_speed.json"))
    parser.add_argument("--child")
    parser.add_argument("--folder", type=Path)
    options = parser.parse_args()
    if options.child:
        child(options.child, options.folder)
        return
    runs = {}
    with tempfile.TemporaryDirectory() as scratch:
        for images in options.images:
            folder = Path(scratch) / str(images)
            truth = make_folder(folder, images)
            tools = ["vislab", "phash"] + (["cnn"] if images <= options.cnn_up_to else [])
            runs[str(images)] = {t: measure(t, folder, truth, images) for t in tools}
            print(json.dumps({images: runs[str(images)]}, indent=1), flush=True)
    result = {
        "images": options.images,
        "image": f"{SIDE} px JPEG drawn pictures, {COPY_SHARE:.0%} copies injected",
        "runs": runs,
        "vislab_projected_1m": projection(options.images, runs),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
    }
    print(json.dumps(result, indent=2))
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
