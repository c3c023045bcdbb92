"""LlamaIndex: OpenAILike on a served model: a query engine optimized with APO, BPO rewrites.

Needs: llama_index.llms.openai_like (pip install 'apo-bpo[openai-like]'; it brings openai 2.x).
The "served model" is FakeOpenAIServer, a real OpenAI-compatible HTTP server on 127.0.0.1 with
a stand-in responder; the same code talks to llama.cpp server, vLLM, Ollama or LM Studio.
"""

# --8<-- [start:world]
import json
import re

from apo_core.testing import FakeOpenAIServer


def served_model(body: dict) -> str:
    """Stands in for the model behind the server: optimizer, rewriter and QA answers."""
    prompt = "\n".join(str(m.get("content") or "") for m in body["messages"])
    if "<original>" in prompt:  # BPO's meta-prompt
        return "<prompt>What colour is the Zorbian flag? Quote the sentence that says so.</prompt>"
    if "Diagnose the prompt" in prompt:
        return json.dumps({"reasons": ["It does not say to quote the context."]})
    quoted = re.search(r"<<<PROMPT\n(.*?)\nPROMPT>>>", prompt, re.S)
    if quoted:  # an edit or a paraphrase of the prompt
        new = "Quote the sentence of the context that answers.\n" + quoted.group(1)
        return json.dumps({"prompts": [new]})
    if "quote" not in prompt.lower():
        return "I am not sure."
    question = set(re.findall(r"\w+", prompt.rsplit("Query:", 1)[-1].lower()))
    lines = [line for line in prompt.splitlines() if line.startswith("The ")]
    return max(lines, key=lambda line: len(question & set(re.findall(r"\w+", line.lower()))))


server = FakeOpenAIServer(served_model, model="smollm2-135m-instruct").start()
base_url = server.base_url  # e.g. "http://127.0.0.1:8080/v1" for llama.cpp server
# --8<-- [end:world]

# --8<-- [start:main]
from llama_index.core import VectorStoreIndex
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.schema import TextNode
from llama_index.llms.openai_like import OpenAILike

from apo_core import Contains
from llama_index_apo import APOPromptOptimizer, BPOQueryTransform, editable, load_template

llm = OpenAILike(
    model="smollm2-135m-instruct",
    api_base=base_url,
    api_key="none",  # local servers ignore it
    is_chat_model=True,
    context_window=8192,
    max_retries=0,  # the engine retries (with backoff and budget); no retries inside retries
)
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
query_engine = index.as_query_engine(llm=llm, similarity_top_k=len(facts))

key = "response_synthesizer:text_qa_template"
rows = [
    {"query": "What colour is the Zorbian flag?", "label": "green"},
    {"query": "What colour is the Eastwick lighthouse?", "label": "red"},
    {"query": "When was the harbour of Eastwick founded?", "label": "1821"},
    {"query": "When is the town festival held?", "label": "October"},
] * 2
optimizer = APOPromptOptimizer(
    query_engine,
    key,
    optimizer_model=llm,  # the served model writes the gradients and edits...
    task_model=llm,  # ...and answers, through the engine (cached, budgeted, counted)
    rounds=1,
    beam_size=2,
    minibatch_size=4,
    n_gradients=1,
)
result = optimizer.optimize(train=rows[:4], validation=rows[4:], metric=Contains())
print(result.best_prompt)
print(query_engine.query("What colour is the Zorbian flag?"))  # applied in place
print(optimizer.engine.usage().by_role["task"].calls, "task calls")

result.save("prompts.json")  # later, or in another process:
assert editable(load_template("prompts.json"), llm=llm).text == result.best_prompt

transform = BPOQueryTransform(llm=llm)  # BPO rewrites with the same served model
print(transform.run("Zorbian flag colour?").query_str)
# --8<-- [end:main]

assert "Quote" in result.best_prompt
assert "green" in str(query_engine.query("What colour is the Zorbian flag?"))
server.stop()
