"""Render the HTML run report of a sample APO run and screenshot it with headless Chromium.

The sample result comes from a real (small, offline) APO run on scripted models: the task
model answers better the more of the hints "sarcasm", "negation" and "one word" its prompt
carries, and the optimizer's gradients and edits add them. Or pass ``--result result.json``.

    python scripts/screenshot_report.py --out /tmp/report.png [--html /tmp/report.html]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from apo_core import APO, APOResult, Engine, Example, ScriptedChatModel, ScriptedRequest
from apo_core.report import render_html

PROMPT = "Is this review <positive> or <negative>? Answer {{like this}}.\nReview: {text}\nAnswer:"
HINTS = ("sarcasm", "negation", "one word")
REASONS = (
    "The prompt never mentions sarcasm, so ironic praise is read as positive.",
    "It does not warn about negation: 'not bad' is taken as negative.",
    "The answer format is loose & the model adds <explanations> instead of one word.",
)
EDITS = (
    "Watch for sarcasm: ironic praise is negative.",
    "Mind negation ('not bad' is positive).",
    "Answer with one word only.",
)


def _examples(prefix: str, n: int) -> list[Example]:
    return [
        Example(
            inputs={"text": f"{prefix} review {i}: it was {'great' if i % 2 else 'awful'}"},
            output="positive" if i % 2 else "negative",
        )
        for i in range(n)
    ]


def _task(request: ScriptedRequest) -> str:
    text = request.last_user
    match = re.search(r"review (\d+): it was (great|awful)", text)
    if match is None:
        return "positive"
    hints = sum(hint in text.lower() for hint in HINTS)
    if int(match.group(1)) % 6 < hints + 2:
        return "positive" if match.group(2) == "great" else "negative"
    return "positive"


def _quoted(request: ScriptedRequest) -> str:
    match = re.search(r"<<<PROMPT\n(.*?)\nPROMPT>>>", request.last_user, re.S)
    return match.group(1) if match else PROMPT


def _optimizer(request: ScriptedRequest) -> str:
    user, seed = request.last_user, request.params.seed or 0
    asked = re.search(r"exactly (\d+)", user)
    n = int(asked.group(1)) if asked else 1
    parent = _quoted(request)
    missing = [i for i, hint in enumerate(HINTS) if hint not in parent.lower()] or [0, 1, 2]
    pick = missing[(seed + request.sample) % len(missing)]
    if "Diagnose the prompt" in user:
        return json.dumps({"reasons": [REASONS[pick]] * n})
    if "improved prompt" in user:
        return json.dumps({"prompts": [f"{EDITS[pick]} {parent}"] * n})
    return json.dumps({"prompts": [parent.replace("Is this review", "Is the review", 1)]})


def sample_result() -> APOResult:
    """A small offline APO run on scripted models (priced task model, unpriced optimizer)."""
    task = ScriptedChatModel(default=_task, model_id="gpt-4o-mini", provider="openai")
    optimizer = ScriptedChatModel(
        default=_optimizer, model_id="my-vllm-model", provider="openai-compatible"
    )
    engine = Engine(roles={"task": task, "optimizer": optimizer})
    apo = APO(
        engine,
        rounds=3,
        beam_size=2,
        minibatch_size=12,
        n_gradients=2,
        mc_samples_per_step=1,
        max_expansion_factor=4,
        pulls_per_candidate=6,
        seed=3,
    )

    def metric(prediction: str, example: Example) -> float:
        return float(prediction.strip().lower() == example.output)

    return apo.optimize_sync(
        PROMPT,
        train=_examples("train", 24),
        validation=_examples("val", 24),
        test=_examples("test", 24),
        metric=metric,
    )


def screenshot(
    html_file: Path, png: Path, *, chromium: str = "chromium", height: int = 2000
) -> None:
    """Screenshot ``html_file`` 1200 pixels wide with headless Chromium (no network, no profile)."""
    with tempfile.TemporaryDirectory() as profile:
        command = [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", f"--user-data-dir={profile}", f"--screenshot={png}",
            f"--window-size=1200,{height}", html_file.resolve().as_uri(),
        ]  # fmt: skip
        subprocess.run(command, check=True, capture_output=True, timeout=120)
    if not png.is_file() or png.stat().st_size == 0:
        raise RuntimeError(f"chromium wrote no screenshot to {png}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("report.png"), help="PNG to write")
    parser.add_argument("--html", type=Path, help="also keep the HTML here")
    parser.add_argument("--result", type=Path, help="an APOResult JSON instead of the sample")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    parser.add_argument("--height", type=int, default=2000, help="window height in pixels")
    args = parser.parse_args(argv)
    result = APOResult.from_json(args.result) if args.result else sample_result()
    with tempfile.TemporaryDirectory() as folder:
        html_file = args.html or Path(folder) / "report.html"
        html_file.parent.mkdir(parents=True, exist_ok=True)
        html_file.write_text(render_html(result, title="Sample APO run"), encoding="utf-8")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        screenshot(html_file, args.out, chromium=args.chromium, height=args.height)
    print(f"screenshot: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
