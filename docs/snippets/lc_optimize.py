"""LangChain: optimize the system prompt inside a chain with APOOptimizer (offline)."""

# --8<-- [start:world]
import json
import re

from apo_core import Engine, ScriptedChatModel, ScriptedRequest


def task_model(request: ScriptedRequest) -> str:
    """A stand-in LLM that misses sarcasm unless its system prompt warns about it."""
    review = request.last_user.lower()
    if "sarcasm" in request.prompt.lower() and "oh great" in review:
        return "negative"
    return "positive" if "great" in review else "negative"


def optimizer_model(request: ScriptedRequest) -> str:
    """A stand-in optimizer: one gradient (a reason), one edit, one paraphrase."""
    quoted = re.search(r"<<<PROMPT\n(.*?)\nPROMPT>>>", request.last_user, re.S)
    prompt = quoted.group(1) if quoted else ""
    if "Diagnose the prompt" in request.last_user:
        return json.dumps({"reasons": ["The prompt never mentions sarcasm."]})
    if "improved prompt" in request.last_user:
        return json.dumps({"prompts": ["Watch out for sarcasm. " + prompt]})
    return json.dumps({"prompts": [prompt.replace("Is the", "Is this", 1)]})


engine = Engine(
    roles={
        "task": ScriptedChatModel(default=task_model),
        "optimizer": ScriptedChatModel(default=optimizer_model),
    }
)
# --8<-- [end:world]

# --8<-- [start:main]
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from apo_core import LabelAccuracy
from langchain_apo import APOOptimizer, EngineChatModel, select_prompt

prompt = ChatPromptTemplate.from_messages(
    [("system", "Is the sentiment of this review positive or negative?"), ("human", "{text}")]
)
chain = prompt | EngineChatModel(engine=engine, role="task", max_tokens=8) | StrOutputParser()

reviews = ["great phone", "awful battery", "oh great, it broke again", "great screen"] * 6
labels = ["positive", "negative", "negative", "positive"] * 6
records = [
    {"text": f"{r} #{i}", "label": y} for i, (r, y) in enumerate(zip(reviews, labels, strict=True))
]

optimizer = APOOptimizer(
    engine=engine,
    metric=LabelAccuracy(["positive", "negative"]),
    apo={"rounds": 1, "beam_size": 2, "minibatch_size": 8, "n_gradients": 1},
)
out = optimizer.optimize(chain, records)  # or: await optimizer.ainvoke({"chain": ..., ...})

print(select_prompt(out.chain).text)  # the NEW chain's system prompt; `chain` is unchanged
best = out.result.best_validation
print(out.result.stopped_by, best.accuracy.value if best else None)

ab = out.as_configurable_alternatives()  # the original chain with an A/B switch
answer = ab.invoke(
    {"text": "oh great, it broke"}, {"configurable": {"prompt_variant": "optimized"}}
)
print(answer)
# --8<-- [end:main]

assert "sarcasm" in select_prompt(out.chain).text and answer == "negative"
assert "sarcasm" not in select_prompt(chain).text
