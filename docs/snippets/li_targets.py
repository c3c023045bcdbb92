"""LlamaIndex: optimize two messages of one chat template in one call, save and load (offline)."""

# --8<-- [start:world]
import json
import re

from apo_core import Engine, ScriptedChatModel, ScriptedRequest

CAPITALS = {"France": "Paris", "Spain": "Madrid", "Italy": "Rome", "Japan": "Tokyo"}


def task_model(request: ScriptedRequest) -> str:
    """Uppercase when the system message says so; the bare city when the user message does."""
    system = next((m.content for m in request.messages if m.role == "system"), "")
    query = re.findall(r"Query: (.*)", request.last_user)[-1]
    city = CAPITALS[next(c for c in CAPITALS if c in query)]
    city = city.upper() if "UPPERCASE" in system else city
    return city if "city name only" in request.last_user else f"The city is {city}."


def optimizer_model(request: ScriptedRequest) -> str:
    """One reason, then one edit of whichever message is being optimized."""
    if "Diagnose the prompt" in request.prompt:
        return json.dumps({"reasons": ["The answer is not in the expected form."]})
    quoted = re.search(r"<<<PROMPT\n(.*?)\nPROMPT>>>", request.last_user, re.S)
    text = quoted.group(1) if quoted else ""
    if "{query_str}" in text:
        return json.dumps({"prompts": ["Reply with the city name only.\n" + text]})
    return json.dumps({"prompts": [text + " Always reply in UPPERCASE."]})


engine = Engine(
    roles={
        "task": ScriptedChatModel(default=task_model),
        "optimizer": ScriptedChatModel(default=optimizer_model),
    }
)
# --8<-- [end:world]

# --8<-- [start:main]
from llama_index.core import VectorStoreIndex
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.schema import TextNode

from llama_index_apo import APOPromptOptimizer, EngineLLM, find_prompt

nodes = [TextNode(text=f"{city} is the capital of {c}.") for c, city in CAPITALS.items()]
index = VectorStoreIndex(nodes, embed_model=MockEmbedding(embed_dim=8))
query_engine = index.as_query_engine(llm=EngineLLM(engine), similarity_top_k=1)

key = "response_synthesizer:text_qa_template"
train = [{"query": f"What is the capital of {c}?", "label": v.upper()} for c, v in CAPITALS.items()]
validation = [{"query": f"Capital of {c}?", "label": v.upper()} for c, v in CAPITALS.items()]


def score(prediction, example):  # half for the uppercase city, half for nothing else
    return 0.5 * (example.output in prediction) + 0.5 * (prediction == example.output)


optimizer = APOPromptOptimizer(
    query_engine,
    targets=[(key, "system"), (key, "user")],  # two messages of one chat template, in turn
    rounds=1,
    beam_size=2,
    minibatch_size=4,
    n_gradients=1,
)
result = optimizer.optimize(train=train, validation=validation, metric=score)
for (_, part), run in zip(result.targets, result.results, strict=True):  # a run each
    print(part, run.initial_validation.accuracy.value, "->", run.best_validation.accuracy.value)
print(find_prompt(query_engine, key, part="system").text.splitlines()[-1])
print(query_engine.query("What is the capital of Japan?"))  # TOKYO
# --8<-- [end:main]

assert str(query_engine.query("What is the capital of Spain?")) == "MADRID"

# --8<-- [start:save]
from llama_index_apo import load_template, set_prompt

result.save("prompts.json")  # {key: template}, as JSON

fresh = index.as_query_engine(llm=EngineLLM(engine), similarity_top_k=1)  # e.g. at deploy time
set_prompt(fresh, key, load_template("prompts.json"))  # a SelectorPromptTemplate again
print(fresh.query("What is the capital of Italy?"))  # ROME
# --8<-- [end:save]

assert str(fresh.query("What is the capital of France?")) == "PARIS"
