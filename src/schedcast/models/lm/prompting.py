"""Token sequences for the language model, and the position that discriminates the kinds.

An example becomes `prompt text + answer text + eos`, where the prompt is rendered by
`schedcast.dataset.prompts` (paper or compact format) and, with `chat`, wrapped in the
tokenizer's chat template as a user turn followed by the assistant header. The budget
(`max_length` tokens for prompt, answer and eos together) is met by the dataset's
truncation (source lines from the top first, then the oldest events).

All six kinds start with the same text ("Go"), so the answer's tokens for the six
kinds share a prefix and part at one token: the *discriminating position* is the
index of the last shared token, whose logits choose the kind. It is found by
tokenizing the example's full text once per kind and is asserted for every example:
the six sequences agree up to it, differ right after it, the six differing tokens are
distinct and are the ones the tokenizer gave when the predictor was made, and the
prompt's own tokens are a prefix of all six (the prompt/answer boundary is a token
boundary).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from schedcast.dataset.prompts import FORMATS, KIND_NAMES, Prompt, PromptExample, PromptTooLong, truncate
from schedcast.models.lm.errors import LMError


@dataclass(frozen=True)
class Encoded:
    input_ids: list[int]  # prompt + answer + eos, for the example's own label
    n_prompt: int  # the first n_prompt tokens are the prompt (masked in the loss)
    position: int  # index of the token whose logits choose the kind
    kind_ids: tuple[int, ...]  # the six tokens that follow `position`, in kind order
    prompt: Prompt  # what truncation dropped
    states_dropped: int = 0  # goroutines left out of the states list (it alone did not fit)

    @property
    def scoring_ids(self) -> list[int]:
        """The tokens up to and including the discriminating position."""
        return self.input_ids[: self.position + 1]


class PromptEncoder:
    """Renders, truncates, tokenizes and checks examples for one tokenizer and format."""

    def __init__(self, tokenizer: Any, fmt: str = "paper", max_length: int = 1024, chat: bool = True) -> None:
        if fmt not in FORMATS:
            raise LMError(f"unknown prompt format {fmt!r}; choose from {', '.join(FORMATS)}")
        if max_length < 32:
            raise LMError(f"--max-length must be at least 32 tokens (got {max_length})")
        if chat and not getattr(tokenizer, "chat_template", None):
            raise LMError("this tokenizer has no chat template: use --no-chat")
        self.tok = tokenizer
        self.fmt = fmt
        self.max_length = max_length
        self.chat = chat
        eos = tokenizer.eos_token
        if eos is None:
            raise LMError("the tokenizer has no eos token to end the answer with")
        self.eos_text: str = eos
        # Tokens the chat wrapping adds around a prompt (and the eos after the answer).
        self.overhead = len(self._ids(self.wrap(""))) + len(self._ids(self.eos_text))
        self.kind_ids: tuple[int, ...] | None = None

    # -- text ---------------------------------------------------------------
    def wrap(self, prompt: str) -> str:
        if not self.chat:
            return prompt
        return self.tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)

    def _ids(self, text: str) -> list[int]:
        return list(self.tok(text, add_special_tokens=False)["input_ids"])

    def _count(self, text: str) -> int:
        return len(self._ids(text)) + self.overhead

    def answer(self, ex: PromptExample, kind: int) -> str:
        """The answer text for `kind` (the example's own goroutine)."""
        from schedcast.dataset.prompts import render

        return render(PromptExample("", (), {}, kind, ex.target_g), self.fmt).target

    # -- encoding -------------------------------------------------------------
    def fit(self, ex: PromptExample) -> tuple[Prompt, int]:
        """The example's prompt under the budget and the number of goroutines left out of
        its states list (raises PromptTooLong). The budget is checked against the longest
        of the six answers, so any kind fits.

        Source lines go first, then the oldest events (the dataset's truncation). Only when
        the goroutine-states list alone does not fit (stress kernels list hundreds to tens
        of thousands of goroutines, most of them dead) are goroutines left out of it: the
        running, then runnable, then blocked ones are kept, each by most recent event,
        until the bare prompt takes half the budget; dead ones go first. An example that
        fits with every goroutine is never changed."""
        longest = max(range(len(KIND_NAMES)), key=lambda k: len(self.answer(ex, k)))
        probe = PromptExample(ex.source, ex.events, ex.states, longest, ex.target_g)
        if self._bare(probe, len(probe.states)) <= self.max_length:
            try:
                return self._fit(probe), 0
            except PromptTooLong:
                pass
        if not probe.states:
            raise PromptTooLong(f"the prompt does not fit in {self.max_length} tokens")
        order = state_order(probe)
        half = self.max_length // 2
        lo, hi = 0, min(len(order), half)  # every state line takes more than one token
        if self._bare(probe, 0, order) > half:
            raise PromptTooLong(f"the prompt does not fit in {self.max_length} tokens even without goroutine states")
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self._bare(probe, mid, order) <= half:
                lo = mid
            else:
                hi = mid - 1
        kept = {g: probe.states[g] for g in order[:lo]}
        return self._fit(replace(probe, states=kept)), len(order) - lo

    def _bare(self, ex: PromptExample, n_states: int, order: Sequence[int] | None = None) -> int:
        """Tokens of the prompt without source and trace, with the first n_states
        goroutines of `order` (all of them when order is None)."""
        from schedcast.dataset.prompts import render

        states = ex.states if order is None else {g: ex.states[g] for g in order[:n_states]}
        r = render(PromptExample("", (), states, ex.target_kind, ex.target_g), self.fmt)
        return self._count(r.prompt + r.target)

    def _fit(self, probe: PromptExample) -> Prompt:
        budget = self.max_length
        for _ in range(4):
            p = truncate(probe, budget, self._count, self.fmt)
            real = len(self._ids(self.wrap(p.prompt) + p.target + self.eos_text))
            if real <= self.max_length:
                return p
            budget -= real - self.max_length  # the chat wrapping merged differently at a boundary
        raise PromptTooLong(f"the prompt does not fit in {self.max_length} tokens")

    def encode(self, ex: PromptExample) -> Encoded:
        """Tokens and discriminating position of one example (raises PromptTooLong)."""
        p, states_dropped = self.fit(ex)
        prompt_text = self.wrap(p.prompt)
        prompt_ids = self._ids(prompt_text)
        texts = [prompt_text + self.answer(ex, k) + self.eos_text for k in range(len(KIND_NAMES))]
        seqs = [list(s) for s in self.tok(texts, add_special_tokens=False)["input_ids"]]
        position = self._check(seqs, prompt_ids)
        kind_ids = tuple(s[position + 1] for s in seqs)
        label = ex.target_kind if 0 <= ex.target_kind < len(KIND_NAMES) else 0
        return Encoded(seqs[label], len(prompt_ids), position, kind_ids, replace(p, target=self.answer(ex, label)), states_dropped)

    def _check(self, seqs: Sequence[list[int]], prompt_ids: list[int]) -> int:
        n = len(prompt_ids)
        for k, s in enumerate(seqs):
            if s[:n] != prompt_ids:
                raise LMError(f"tokenizer merges the prompt's last token with the answer of {KIND_NAMES[k]}: no clean prompt/answer boundary")
        shared = n
        while all(len(s) > shared for s in seqs) and len({s[shared] for s in seqs}) == 1:
            shared += 1
        if shared == n:
            raise LMError("the six answers share no token after the prompt: no position holds the shared 'Go'")
        position = shared - 1
        if any(len(s) <= shared for s in seqs):
            raise LMError("an answer ends at the shared prefix: the kinds cannot be told apart by one token")
        kind_ids = tuple(s[shared] for s in seqs)
        if len(set(kind_ids)) != len(KIND_NAMES):
            raise LMError(f"the token after the shared prefix does not tell the six kinds apart (ids {kind_ids})")
        if self.kind_ids is None:
            self.kind_ids = kind_ids
        elif kind_ids != self.kind_ids:
            raise LMError(f"the kind tokens differ between examples ({kind_ids} vs {self.kind_ids}): the discriminating position is not stable")
        return position

    def decode(self, ids: Sequence[int]) -> str:
        return str(self.tok.decode(list(ids)))


_STATE_RANK = {"running": 0, "runnable": 1, "blocked": 2}


def state_order(ex: PromptExample) -> list[int]:
    """Goroutines in the order they are kept when the states list must shrink: running,
    runnable, blocked, then the rest (dead); within each, the most recently active first."""
    last = ex.last_event
    if last is None:
        last = {}
        for i, e in enumerate(ex.events):
            last[e.g] = i
    return sorted(ex.states, key=lambda g: (_STATE_RANK.get(ex.states[g].split(" ", 1)[0], 3), -last.get(g, -1), g))
