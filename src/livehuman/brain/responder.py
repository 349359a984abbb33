"""The offline brain's words: the dialogue (built on first use), the user's turns not answered yet,
and the text of each reply."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

FOLLOW_UP = "Is there anything else I can help you with?"


def default_dialogue() -> Any:
    """The built-in offline dialogue: the default persona and knowledge base."""
    from livehuman.brain.dialogue import Dialogue

    return Dialogue()


class Responder:
    """What the brain says, as text: one conversation's dialogue and the user's words it still owes a reply.

    `dialogue` is a Dialogue, or `dialogue_factory` makes one on first use (blocking: `ensure()`
    runs in a worker thread; building one embeds its knowledge base). `instructions` replace the
    persona's.
    """

    def __init__(self, dialogue: Any = None, dialogue_factory: Callable[[], Any] | None = None,
                 instructions: str | None = None) -> None:
        self._dialogue = dialogue
        self._factory = dialogue_factory or default_dialogue
        self._lock = threading.Lock()
        self._instructions = instructions
        self._pending: list[str] = []  # user texts not answered yet

    @property
    def dialogue(self) -> Any:
        """The Dialogue (None until first needed)."""
        return self._dialogue

    def ensure(self) -> Any:
        """The dialogue, built now if need be (blocking)."""
        with self._lock:
            if self._dialogue is None:
                dialogue = self._factory()
                if self._instructions and hasattr(dialogue, "instructions"):
                    dialogue.instructions = self._instructions
                self._dialogue = dialogue
            return self._dialogue

    def set_instructions(self, instructions: str) -> None:
        self._instructions = instructions
        if instructions and self._dialogue is not None and hasattr(self._dialogue, "instructions"):
            try:
                self._dialogue.instructions = instructions
            except AttributeError:
                pass

    @property
    def waiting(self) -> bool:
        """Whether the user said something not answered yet."""
        return bool(self._pending)

    def heard(self, text: str) -> None:
        """The user said (or typed) `text`."""
        if text.strip():
            self._pending.append(text)

    def owed(self) -> str:
        """What the user said since the last reply."""
        return " ".join(self._pending).strip()

    def take(self) -> str:
        """What the user said since the last reply; it is being answered now."""
        text = self.owed()
        self._pending.clear()
        return text

    def replayed(self, reply: str) -> None:
        """An exchange answered elsewhere (e.g. replayed after a client reconnects): it is history."""
        self.remember(self.take(), reply)

    async def reply(self, user_text: str, script: str | None = None, greeted: bool = False) -> AsyncIterator[str]:
        """The reply's text as it comes: `script` verbatim, the dialogue's answer, or with nothing
        new from the user a greeting (or, once `greeted`, an invitation to ask)."""
        if script is not None or not user_text:
            if script is None:
                persona = getattr(self._dialogue, "persona", None)
                script = FOLLOW_UP if greeted else getattr(persona, "greeting", None) or "Hello!"
            self.remember(user_text, script)
            yield script
            return
        async for piece in self._dialogue.reply(user_text):
            yield piece

    def remember(self, user_text: str, reply: str) -> None:
        """Put an exchange the dialogue did not answer itself (a script, a replayed reply) in its history."""
        history = getattr(self._dialogue, "history", None)
        if isinstance(history, list):
            if user_text:
                history.append({"role": "user", "content": user_text})
            history.append({"role": "assistant", "content": reply})

    def adopt(self, fork: Any) -> None:
        """A speculative reply is spoken: the fork that answered it becomes the dialogue's state."""
        vars(self._dialogue).update(vars(fork))

    def truncate_last_reply(self, heard: str) -> None:
        if self._dialogue is not None:
            self._dialogue.truncate_last_reply(heard)
