"""What the model sees: the item's own messages, verbatim, in chat and in plain-text prompts."""

from __future__ import annotations

import json

import pytest
from lm_eval.tasks import TaskManager

from medinj_eval.paths import sample_data_dir, tasks_dir

TASK = "medinj_fr_sample_medinjfr_native_mcqu_greedy"


@pytest.fixture(scope="module")
def task():
    manager = TaskManager(include_path=str(tasks_dir()), include_defaults=False)
    return manager.load([TASK])["tasks"][TASK]


def raw_rows() -> list[dict]:
    path = sample_data_dir() / "medinjection-fr/Native/Test/mcqu/mcqu_test.json"
    return json.loads(path.read_text(encoding="utf-8"))


def as_messages(messages, **_) -> str:
    return json.dumps(messages, ensure_ascii=False)


def test_chat_prompt_is_the_items_own_system_and_user_turns(task):
    for doc, row in zip(task.test_docs(), raw_rows()):
        rendered = task.fewshot_context(
            doc, num_fewshot=0, apply_chat_template=True, chat_template=as_messages
        )
        expected = [m for m in row["messages"] if m["role"] in ("system", "user")]
        assert json.loads(rendered) == expected


def test_plain_prompt_separates_system_text_and_question(task):
    doc, row = task.test_docs()[0], raw_rows()[0]
    rendered = task.fewshot_context(doc, num_fewshot=0)
    system, user = row["messages"][0]["content"], row["messages"][1]["content"]
    assert rendered == f"{system}\n\n{user}"
