"""Chat formatting shared by every stage.

Qwen2.5's chat template silently inserts a default system prompt ("You are
Qwen, created by Alibaba Cloud. You are a helpful assistant.") when a
conversation has none, and a follow-up paper finds subliminal transfer depends
on whether that prompt is present in training and at evaluation. So the
workflow never lets this happen implicitly: every stage builds its messages
here, from an explicit `system` argument (the config's ``chat`` keys):

* ``None``  -> no system message: the tokenizer's template decides (Qwen2.5 and
  our toy template then insert their default system prompt; Llama 3.x its
  date header; Gemma none);
* ``""``    -> an explicit, empty system message: the template's default is
  not inserted (Qwen2.5 and the toy render an empty system turn);
* any other string -> that system message.

A template that refuses system messages (Gemma's) raises ``ChatTemplateError``
for anything but ``None``, with a message that names the config keys.
"""

from __future__ import annotations


class ChatTemplateError(ValueError):
    """The model's chat template cannot render the requested conversation."""


def messages(user: str, system: str | None = None, assistant: str | None = None) -> list[dict]:
    out = []
    if system is not None:
        out.append({"role": "system", "content": system})
    out.append({"role": "user", "content": user})
    if assistant is not None:
        out.append({"role": "assistant", "content": assistant})
    return out


def _render(tokenizer, msgs: list[dict], **kw) -> str:
    try:
        return tokenizer.apply_chat_template(msgs, tokenize=False, **kw)
    except Exception as err:  # jinja2's TemplateError, raised by the template itself
        if msgs[0]["role"] == "system" and type(err).__name__ in (
            "TemplateError",
            "TemplateSyntaxError",
            "UndefinedError",
        ):
            raise ChatTemplateError(
                f"this model's chat template rejects a system message ({err}); set the config keys "
                "chat.teacher_system_prompt / chat.train_system_prompt / chat.eval_system_prompt to null "
                "for it, and do not use it as a system-prompt teacher"
            ) from err
        raise


def prompt_text(tokenizer, user: str, system: str | None = None) -> str:
    """The exact text a model sees before it answers (generation prompt added)."""
    return _render(tokenizer, messages(user, system), add_generation_prompt=True)


def end_of_turn_id(tokenizer) -> int:
    """The token that closes an assistant turn (eos for chat models)."""
    for name in ("<|im_end|>", "<|eot_id|>", "<end_of_turn>"):
        tid = tokenizer.convert_tokens_to_ids(name)
        if isinstance(tid, int) and tid != tokenizer.unk_token_id and tid is not None:
            return tid
    return tokenizer.eos_token_id


def encode_prompt_answer(tokenizer, user: str, answer: str, system: str | None = None) -> tuple[list[int], int]:
    """Token ids of prompt + answer + end of turn, and the prompt's length.

    The answer tokens are taken from the difference between the templated
    conversation with and without the assistant turn, so whatever the template
    appends (end of turn, newline) is part of the answer.
    """
    prompt = prompt_text(tokenizer, user, system)
    full = _render(tokenizer, messages(user, system, answer))
    if not full.startswith(prompt):
        raise ValueError("chat template is not prefix-consistent: cannot isolate the answer tokens")
    p_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    a_ids = tokenizer(full[len(prompt) :], add_special_tokens=False)["input_ids"]
    eot = end_of_turn_id(tokenizer)
    if eot in a_ids:  # drop what the template adds after the end of turn (e.g. a newline)
        a_ids = a_ids[: a_ids.index(eot) + 1]
    return p_ids + a_ids, len(p_ids)


def right_pad(seqs: list[list[int]], pad_id: int):
    """A batch of token-id lists padded on the right (positions stay 0..n-1),
    and its attention mask."""
    import torch

    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
        mask[i, : len(s)] = 1
    return ids, mask


def set_threads(n: int) -> None:
    """One place to pin CPU threads (reproducible float reductions on CPU)."""
    import torch

    if n and n > 0:
        torch.set_num_threads(int(n))
