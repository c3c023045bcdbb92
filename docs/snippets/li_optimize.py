"""LlamaIndex: optimize a query engine's answer prompt with APOPromptOptimizer (offline)."""

# --8<-- [start:world]
import json
import re

from apo_core import Engine, ScriptedChatModel, ScriptedRequest


def task_model(request: ScriptedRequest) -> str:
    """A stand-in LLM: it answers from the context only when the prompt tells it to quote."""
    text = request.last_user
    if "quote" not in text.lower():
        return "I am not sure."
    question = set(re.findall(r"\w+", text.rsplit("Query:", 1)[-1].lower()))
    lines = [line for line in text.splitlines() if line.startswith("The ")]
    return max(lines, key=lambda line: len(question & set(re.findall(r"\w+", line.lower()))))


def optimizer_model(request: ScriptedRequest) -> str:
    """A stand-in optimizer: one gradient (a reason), one edit, one paraphrase."""
    quoted = re.search(r"<<<PROMPT\n(.*?)\nPROMPT>>>", request.last_user, re.S)
    prompt = quoted.group(1) if quoted else ""
    if "Diagnose the prompt" in request.last_user:
        return json.dumps({"reasons": ["It does not say to quote the context."]})
    if "improved prompt" in request.last_user:
        return json.dumps(
            {"prompts": ["Quote the sentence of the context that answers.\n" + prompt]}
        )
    return json.dumps({"prompts": [prompt]})


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

from apo_core import Contains
from llama_index_apo import APOPromptOptimizer, EngineLLM, find_prompt

facts = [
    "The Zorbian flag is green.",
    "The Eastwick lighthouse is red.",
    "The harbour of Eastwick was founded in 1821.",
    "The town festival is held in October.",
]
index = VectorStoreIndex(
    [TextNode(id_=f"doc-{i}", text=t) for i, t in enumerate(facts)],
    embed_model=MockEmbedding(embed_dim=8),
)
llm = EngineLLM(engine, max_tokens=32)  # task calls go through the same engine
query_engine = index.as_query_engine(llm=llm, similarity_top_k=len(facts))

key = "response_synthesizer:text_qa_template"
rows = [
    {"query": "What colour is the Zorbian flag?", "label": "green"},
    {"query": "What colour is the Eastwick lighthouse?", "label": "red"},
    {"query": "When was the harbour of Eastwick founded?", "label": "1821"},
    {"query": "When is the town festival held?", "label": "October"},
] * 2
optimizer = APOPromptOptimizer(
    query_engine, key, engine=engine, rounds=1, beam_size=2, minibatch_size=4, n_gradients=1
)
result = optimizer.optimize(train=rows[:4], validation=rows[4:], metric=Contains())

print(result.apo.best_prompt)  # applied in place:
assert find_prompt(query_engine, key).text == result.apo.best_prompt
print(query_engine.query("What colour is the Zorbian flag?"))
# --8<-- [end:main]

assert "Quote" in result.apo.best_prompt
