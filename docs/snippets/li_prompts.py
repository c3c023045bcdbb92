"""LlamaIndex: read a prompt, try new text on a copy, change the module in place (offline)."""

# --8<-- [start:main]
from llama_index.core import VectorStoreIndex
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.schema import TextNode

from apo_core import Engine, ScriptedChatModel
from llama_index_apo import EngineLLM, discover_prompts, find_prompt, set_prompt, with_prompt

engine = Engine(ScriptedChatModel(default=lambda request: request.last_user.splitlines()[0]))
index = VectorStoreIndex(
    [TextNode(text="The Zorbian flag is green.")], embed_model=MockEmbedding(embed_dim=8)
)
query_engine = index.as_query_engine(llm=EngineLLM(engine))
key = "response_synthesizer:text_qa_template"
print(sorted(discover_prompts(query_engine)))
print(find_prompt(query_engine, key).text.splitlines()[0])  # the user message's first line

trial = with_prompt(query_engine, key, "Facts: {context_str}\nQuestion: {query_str}")  # a copy
print(trial.query("Flag colour?"))  # answers with the new text
print(query_engine.query("Flag colour?"))  # the original is untouched

set_prompt(query_engine, key, "Be brief.", part="system")  # in place, the system message
print(find_prompt(query_engine, key, part="system").text)
# --8<-- [end:main]

assert str(trial.query("x")) == "Facts: The Zorbian flag is green."
assert str(query_engine.query("x")) == "Context information is below."
assert find_prompt(query_engine, key, part="system").text == "Be brief."
