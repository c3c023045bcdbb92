"""LangChain: a BPO step that rewrites the user's question before the chain's prompt (offline)."""

# --8<-- [start:world]
import re

from apo_core import Engine, ScriptedChatModel, ScriptedRequest


def rewriter_model(request: ScriptedRequest) -> str:
    """A stand-in rewriter LLM answering the BPO meta-prompt."""
    original = re.search(r"<original>\n(.*?)\n</original>", request.last_user, re.S)
    question = original.group(1) if original else ""
    return f"<prompt>{question} Answer in three short steps, with an example.</prompt>"


def task_model(request: ScriptedRequest) -> str:
    """A stand-in answering LLM that echoes the question it was given."""
    return "ANSWER TO: " + request.last_user


engine = Engine(
    roles={
        "rewriter": ScriptedChatModel(default=rewriter_model),
        "task": ScriptedChatModel(default=task_model),
    }
)
# --8<-- [end:world]

# --8<-- [start:main]
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from langchain_apo import BPORewriter, EngineChatModel, insert_bpo

prompt = ChatPromptTemplate.from_messages([("human", "{question}")])
llm = EngineChatModel(engine=engine, role="task")

# Put the step into LCEL yourself ...
chain = BPORewriter(engine, key="question") | prompt | llm | StrOutputParser()
print(chain.invoke({"question": "How do I sort a dict by value?"}))

# ... or let insert_bpo place it right before an existing chain's prompt.
with_bpo = insert_bpo(prompt | llm | StrOutputParser(), engine)
print(with_bpo.invoke({"question": "How do I sort a dict by value?"}))
# --8<-- [end:main]

assert "three short steps" in with_bpo.invoke({"question": "Why is the sky blue?"})
