"""LlamaIndex: rewrite queries with BPO before retrieval and synthesis (offline)."""

# --8<-- [start:world]
import re

from apo_core import Engine, ScriptedChatModel, ScriptedRequest


def rewriter_model(request: ScriptedRequest) -> str:
    """A stand-in rewriter LLM answering the BPO meta-prompt."""
    original = re.search(r"<original>\n(.*?)\n</original>", request.last_user, re.S)
    query = original.group(1) if original else ""
    return f"<prompt>{query} Name the colour and quote the sentence that says so.</prompt>"


def task_model(request: ScriptedRequest) -> str:
    """A stand-in answering LLM: it repeats the query it was asked."""
    return "Asked: " + request.last_user.rsplit("Query:", 1)[-1].split("\n")[0].strip()


engine = Engine(
    roles={
        "rewriter": ScriptedChatModel(default=rewriter_model),
        "task": ScriptedChatModel(default=task_model),
    }
)
# --8<-- [end:world]

# --8<-- [start:main]
from llama_index.core import VectorStoreIndex
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.schema import TextNode

from llama_index_apo import BPOQueryTransform, BPOTransformQueryEngine, EngineLLM

index = VectorStoreIndex(
    [TextNode(id_="flag", text="The Zorbian flag is green.")],
    embed_model=MockEmbedding(embed_dim=8),
)
query_engine = index.as_query_engine(llm=EngineLLM(engine))

transform = BPOQueryTransform(engine, keep_original_for_retrieval=True)  # engine -> rewriter
bpo_engine = BPOTransformQueryEngine(query_engine, query_transform=transform)
print(bpo_engine.query("What colour is the Zorbian flag?"))
# --8<-- [end:main]

assert "quote the sentence" in str(bpo_engine.query("What colour is the flag?"))
