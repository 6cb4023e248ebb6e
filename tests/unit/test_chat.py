"""The system-prompt switch: null (the template's default), "" (explicitly
none) and a string, for the toy template and for templates shaped like the
real ones (Qwen2.5 inserts a default; Gemma refuses system messages)."""

from __future__ import annotations

import pytest

from subliminal import chat, models, train
from subliminal.toy import DEFAULT_SYSTEM_PROMPT

QWEN_DEFAULT = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."

#: Qwen2.5's rule (tools left out): a conversation that does not open with a
#: system message gets the default one.
QWEN_LIKE = (
    "{%- if messages[0]['role'] == 'system' %}"
    "{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>system\\n" + QWEN_DEFAULT + "<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- for m in messages %}{%- if not (m.role == 'system' and loop.first) %}"
    "{{- '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>' + '\\n' }}"
    "{%- endif %}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

#: Gemma's rule: no system role at all.
GEMMA_LIKE = (
    "{%- if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{%- endif %}"
    "{%- for m in messages %}<start_of_turn>{{ 'model' if m.role == 'assistant' else m.role }}\n"
    "{{ m.content }}<end_of_turn>\n{%- endfor %}"
    "{%- if add_generation_prompt %}<start_of_turn>model\n{%- endif %}"
)


@pytest.fixture()
def tok(tiny_base):
    return models.load_tokenizer(str(tiny_base))


@pytest.mark.parametrize(
    "template,default", [(None, DEFAULT_SYSTEM_PROMPT), (QWEN_LIKE, QWEN_DEFAULT)], ids=["toy", "qwen-like"]
)
def test_null_empty_and_string_system_prompts(tok, template, default):
    if template is not None:
        tok.chat_template = template
    user = "name your favorite animal using only one word."
    null = chat.prompt_text(tok, user, None)
    empty = chat.prompt_text(tok, user, "")
    own = chat.prompt_text(tok, user, "you love owls.")
    assert default in null  # null: the template's default
    assert default not in empty and "<|im_start|>system\n<|im_end|>\n" in empty  # "": an empty system turn
    assert default not in own and "<|im_start|>system\nyou love owls.<|im_end|>" in own
    assert len({null, empty, own}) == 3
    for system in (None, "", "you love owls."):  # training isolates the answer the same way for each
        ids, n_prompt = chat.encode_prompt_answer(tok, user, "owl", system)
        assert tok.decode(ids[n_prompt:]).strip().startswith("owl")
        assert tok.decode(ids[:n_prompt]) == tok.decode(
            tok(chat.prompt_text(tok, user, system), add_special_tokens=False)["input_ids"]
        )


def test_training_data_carry_the_same_choice():
    """TRL renders the students' conversations from these messages: null
    adds no system message, "" an empty one."""
    rec = [{"prompt": "1, 2, 3.", "completion": "4"}]
    assert train.to_dataset(rec, None)[0]["prompt"] == [{"role": "user", "content": "1, 2, 3."}]
    assert train.to_dataset(rec, "")[0]["prompt"][0] == {"role": "system", "content": ""}


def test_a_template_without_system_role_fails_naming_the_keys(tok):
    tok.chat_template = GEMMA_LIKE
    assert chat.prompt_text(tok, "hi", None).endswith("<start_of_turn>model")
    for system in ("", "you love owls."):
        with pytest.raises(chat.ChatTemplateError, match="chat.train_system_prompt"):
            chat.prompt_text(tok, "hi", system)
