"""Caching and resuming: re-runs replay from the SQLite cache; checkpoints resume a run."""

# --8<-- [start:world]
import json
import re

from apo_core import Dataset, ScriptedChatModel, ScriptedRequest


def optimizer_reply(request: ScriptedRequest) -> str:
    """A stand-in optimizer whose edit adds one more 'Be careful.' to the prompt."""
    quoted = re.search(r"<<<PROMPT\n(.*?)\nPROMPT>>>", request.last_user, re.S)
    prompt = quoted.group(1) if quoted else ""
    if "Diagnose the prompt" in request.last_user:
        return json.dumps({"reasons": ["Not careful enough."]})
    return json.dumps({"prompts": ["Be careful. " + prompt]})


def task_reply(request: ScriptedRequest) -> str:
    """A stand-in LLM that gets example i right when i % 4 < the number of 'careful's."""
    number = int(re.findall(r"\d+", request.last_user)[-1])
    return "yes" if number % 4 < request.last_user.count("careful") else "no"


def models() -> dict[str, ScriptedChatModel]:
    return {
        "task": ScriptedChatModel(default=task_reply),
        "optimizer": ScriptedChatModel(default=optimizer_reply),
    }


data = Dataset.from_records([{"text": f"case {i}", "label": "yes"} for i in range(32)])
train, validation, _ = data.split(train=0.5, validation=0.5, test=0.0, seed=0)
# --8<-- [end:world]

# --8<-- [start:main]
import tempfile
from pathlib import Path

from apo_core import APO, APOResult, Budget, Engine, ExactMatch

folder = Path(tempfile.mkdtemp())
settings = {"rounds": 3, "beam_size": 1, "minibatch_size": 8, "n_gradients": 1, "patience": None}


def run(*, budget: Budget | None = None, resume: bool = False) -> tuple[APOResult, Engine]:
    engine = Engine(roles=models(), cache=folder / "cache.sqlite", budget=budget)
    with engine:  # closes the cache file at the end
        result = APO(engine, **settings).optimize_sync(
            "Answer yes or no. {text}",
            train=train,
            validation=validation,
            metric=ExactMatch(),
            checkpoint=folder / "checkpoint.json",  # written after every round
            resume=resume,
        )
    return result, engine


# 1. A run cut short: the budget stops it after one round (as a crash or Ctrl-C would).
cut, _ = run(budget=Budget(max_calls=70))
print(cut.stopped_by, cut.rounds_completed)

# 2. Resume: finished rounds come from the checkpoint, calls already paid from the cache.
resumed, engine = run(resume=True)
print(resumed.stopped_by, resumed.rounds_completed, engine.usage().total.cache_hits)

# 3. Run it again from scratch: every call is a cache hit, nothing is paid twice.
again, engine = run()
print(again.best_prompt == resumed.best_prompt, engine.usage().total.calls)  # True 0
# --8<-- [end:main]

assert cut.stopped_by == "budget" and cut.rounds_completed < 3 and resumed.rounds_completed == 3
assert again.best_prompt == resumed.best_prompt and engine.usage().total.calls == 0
