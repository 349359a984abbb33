"""Dialogue: the reply to each user turn, from the knowledge base offline or from a chat LLM.

Offline, answers come from semantic retrieval over the knowledge base's questions, with rules
for greetings, thanks, goodbyes, the user's name and small talk, and with the current topic kept
so that follow-ups ("and how much does it cost?", "tell me more") resolve against it. With an
`llm_url`, tokens stream from any OpenAI-compatible chat endpoint instead.
"""

from __future__ import annotations

import asyncio
import os
import re
from typing import AsyncIterator

import numpy as np

from livehuman.brain import multilingual
from livehuman.brain.knowledge import Embedder, Entry, KnowledgeBase, default_knowledge, load_embedder
from livehuman.brain.persona import Persona, load_persona
from livehuman.errors import LivehumanError

# Cosine similarity (all-MiniLM-L6-v2) below which a question is not in the knowledge base:
# paraphrases of known questions score 0.5-0.9, unrelated questions 0.0-0.3.
MATCH_THRESHOLD = 0.5
# A reading of the question in the light of the topic must beat its plain reading by this much:
# "and when are you open?" after a price stays about opening hours.
FOLLOWUP_PENALTY = 0.15
MAX_HISTORY = 40  # messages kept for the LLM (the oldest are dropped first)
LLM_FULL_KNOWLEDGE = 40  # up to this many entries go to the LLM whole; beyond, the nearest few
LLM_API_KEY_ENV = "LIVEHUMAN_LLM_API_KEY"

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)")

_GREETING = re.compile(
    r"^(hi|hello|hey|hiya|howdy|greetings|good (morning|afternoon|evening|day))( there)?( (ava|you))?\b[\s,.!]*"
)
_MY_NAME_Q = re.compile(r"\b(what'?s|what is|do you (know|remember)|say) my name\b|\bwho am i\b")
_YOUR_NAME_Q = re.compile(
    r"\b(what'?s|what is|tell me) your name\b|\bwho are you\b|\bwhat (should|do|can) i call you\b|"
    r"\bwho am i (talking|speaking) (to|with)\b"
)
_HOW_ARE_YOU = re.compile(r"\bhow are you\b|\bhow'?s it going\b|\bhow do you do\b|\bhow are things\b")
_THANKS = re.compile(r"\b(thanks|thank you|thank u|cheers|appreciate it)\b")
_BYE = re.compile(r"\b(bye|goodbye|good bye|see you|see ya|farewell|good night|that'?s all)\b")
_CAPABILITIES = re.compile(
    r"\bwhat can (you|i) (do|ask|tell)\b|\bwhat do you know\b|\bwhat can you help\b|"
    r"\bwhat (topics|questions)\b|^help\b"
)
_MORE = re.compile(
    r"^(and |ok |okay |please )?(tell me more|more|go on|continue|keep going|what else|anything else|"
    r"more details|(can you |could you )?(elaborate|explain( that| it)?( more| further)?)|"
    r"what about (it|that|this)|and (it|that|this)|how so|really|details|say more)( please)?$"
    r"|\btell me more$|\bmore about (it|that|this)\b"
)
_ACK = re.compile(
    r"^(ok|okay|cool|great|nice|i see|got it|alright|all right|awesome|perfect|sounds good|good|"
    r"interesting|wow|yes|yeah|no|nope|sure|fine)( thanks?| thank you)?$"
)
# A speaker who corrects themselves means what comes after ("what is it, no wait, how much does it
# cost"): said in one breath, or going on over the avatar's answer (local.py). Only phrases that
# do not occur in a plain question: "wait", "actually" and "no" alone do.
_REPAIR = re.compile(r"\b(no,? wait|wait,? no|no,? sorry|sorry,? i mean|i mean|or rather|scratch that|never ?mind|no,? actually|actually,? no)\b[,.!?;]?")
_WHAT_ABOUT = re.compile(r"^(and )?(what|how) about\b")
# Words that refer back to what was just said: a question with one of them leans on the topic.
_REFERS_BACK = re.compile(r"^(and|also|but|so)\b|\b(it|its|it's|that|this|they|them|those|these|there|one)\b")

_NAME_PATTERNS = [
    re.compile(r"\bmy name(?:'s| is)\s+([a-z][a-z'-]*)"),
    re.compile(r"\bcall me\s+([a-z][a-z'-]*)"),
    re.compile(r"(?:^|[\s,.!])(?:i'm|i am)\s+([a-z][a-z'-]*)(?=\s*(?:$|[,.!?;]|\band\b|\bhere\b))"),
]
# "I'm fine", "I'm back": after "I'm" only an unknown word at the end of a clause is a name.
_NOT_NAMES = set(
    """fine good great ok okay well ready sorry here back new done happy sad tired bored busy
    interested curious confused lost sure not so just also very really glad alright excited
    hungry cold hot late early home out in on from a an the the one me you it that this there
    listening talking waiting looking trying going wondering asking thinking learning working
    amazed impressed fascinated worried afraid scared calm ok alive human real serious joking
    kidding right wrong better worse bad awesome cool nice thanks thank no yes yeah sorry""".split()
)


# The user's emotion (from their words, emotion/text.py) → a short empathetic lead-in, and what to
# say instead of "I don't know" when the turn was a feeling rather than a question.
EMPATHY = {
    "sadness": ("I'm so sorry you're feeling this way.",
                "I'm here to listen. If it helps to think of something else, you can ask me anything."),
    "anger": ("I understand, that sounds really frustrating.",
              "Tell me what went wrong, and I'll do my best to help."),
    "fear": ("That sounds worrying, and it's okay to feel that way.",
             "Take your time. I'm here, and I'll help however I can."),
}
FEELINGS = {"sadness": "sad", "anger": "angry", "fear": "worried or afraid"}


def split_sentences(text: str) -> list[str]:
    """Sentences of `text`, each with its closing punctuation."""
    return [s.strip() for s in _SENTENCE_END.split(text.strip()) if s.strip()]


async def sentences(chunks: AsyncIterator[str]) -> AsyncIterator[str]:
    """Regroup streamed text (LLM tokens) into whole sentences, the unit a TTS speaks."""
    buf = ""
    async for chunk in chunks:
        buf += chunk
        parts = _SENTENCE_END.split(buf)
        for done in parts[:-1]:
            if done.strip():
                yield done.strip()
        buf = parts[-1]
    if buf.strip():
        yield buf.strip()


def user_feeling(text: str) -> str:
    """The emotion of the user's words (emotion/text.py): joy, sadness, anger, surprise, fear or neutral."""
    from livehuman.emotion.text import text_emotion  # loads VADER's lexicon on first use

    return text_emotion(text).label


def _normalize(text: str) -> str:
    text = text.lower().replace("\u2019", "'")
    text = re.sub(r"[^a-z0-9' ,.!?;-]+", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def _bare(text: str) -> str:
    return re.sub(r"[^a-z0-9' ]+", "", text).strip()


def default_persona() -> Persona:
    """The built-in persona (Ava), from the persona file that ships with livehuman."""
    return load_persona()


class Dialogue:
    """One conversation's replies and history (offline retrieval, or an LLM when llm_url is set).

    Building the offline path loads the sentence-embedding model once per process (seconds) and
    embeds the knowledge base's questions once per KnowledgeBase object: share one KnowledgeBase
    between sessions, and build the first Dialogue off the event loop.
    """

    def __init__(
        self,
        persona: Persona | None = None,
        knowledge: KnowledgeBase | None = None,
        llm_url: str | None = None,
        llm_model: str | None = None,
        *,
        embedder: Embedder | None = None,
        threshold: float = MATCH_THRESHOLD,
    ) -> None:
        self.persona = persona or default_persona()
        self.knowledge = knowledge if knowledge is not None else default_knowledge()
        self.llm_url = llm_url
        self.llm_model = llm_model
        self.threshold = threshold
        # The LLM's instructions; a Realtime client's session.update may replace them.
        self.instructions = self.persona.instructions
        self.history: list[dict[str, str]] = []
        self.user_name: str | None = None
        self.topic: Entry | None = None
        self._told_more: set[Entry] = set()
        self._said: set[Entry] = set()
        self._turn: dict[str, str] | None = None
        self._client = None
        self._embedder = embedder
        if llm_url is None:
            self._embedder = embedder or load_embedder()
            self.knowledge.entry_vectors(self._embedder)  # embed the questions now, not mid-turn

    # -- the turn ---------------------------------------------------------------------------

    async def reply(self, user_text: str) -> AsyncIterator[str]:
        """Yield the reply to `user_text` as text chunks; their concatenation is the whole reply."""
        text = user_text.strip()
        self.history.append({"role": "user", "content": text})
        turn = {"role": "assistant", "content": ""}
        self.history.append(turn)
        self._turn = turn
        del self.history[:-MAX_HISTORY]
        source = self._llm_chunks() if self.llm_url else self._offline_chunks(text)
        try:
            async for chunk in source:
                if self._turn is not turn:  # truncated by a barge-in: the rest is unsaid
                    break
                turn["content"] += chunk
                yield chunk
        finally:
            await source.aclose()
            if self._turn is turn:
                self._turn = None

    def truncate_last_reply(self, heard_text: str) -> None:
        """Cut the last assistant reply in the history to what the user actually heard."""
        self._turn = None
        for i in range(len(self.history) - 1, -1, -1):
            if self.history[i]["role"] == "assistant":
                heard = heard_text.strip()
                if heard:
                    self.history[i]["content"] = heard
                else:
                    del self.history[i]
                return

    # -- offline ----------------------------------------------------------------------------

    async def _offline_chunks(self, text: str) -> AsyncIterator[str]:
        answer = await asyncio.to_thread(self.respond, text)
        for i, sentence in enumerate(split_sentences(answer)):
            yield sentence if i == 0 else " " + sentence

    def respond(self, user_text: str) -> str:
        """The offline answer to one user turn (updates the remembered name and topic)."""
        language = multilingual.reply_language(user_text, self.persona.language)
        if multilingual.answers(language):  # Chinese, Japanese: their own rules and retrieval
            return multilingual.respond(self, user_text, language)
        t = _normalize(user_text)
        repairs = list(_REPAIR.finditer(t))
        if repairs and len(_bare(t[repairs[-1].end():]).split()) >= 2:
            t = user_text = t[repairs[-1].end():].strip()  # (its feeling too: "no, wait" is not sadness)
        if not _bare(t):
            return "Sorry, I didn't catch that. Could you say it again?"
        prefix: list[str] = []
        name, rest = self._find_name(t)
        if name:
            self.user_name = name
            prefix.append(f"Nice to meet you, {name}!")
            t = rest
            if not _bare(t):
                return f"{prefix[0]} How can I help you?"
        greeting = _GREETING.match(t)
        if greeting:
            t = t[greeting.end():]
            if not _bare(t):
                return " ".join(prefix) or f"Hello{self._comma_name()}! How can I help you today?"
            if not prefix:
                prefix.append(f"Hi{self._comma_name()}!")
        feeling = user_feeling(user_text)
        if feeling in EMPATHY:
            lead, instead = EMPATHY[feeling]
            return " ".join(prefix + [lead, self._answer(t, unknown=instead)])
        return " ".join(prefix + [self._answer(t)])

    def _answer(self, t: str, unknown: str | None = None) -> str:
        bare = _bare(t)
        words = len(bare.split())
        if _MY_NAME_Q.search(t):
            if self.user_name:
                return f"Your name is {self.user_name}."
            return "You haven't told me your name yet. What should I call you?"
        if _YOUR_NAME_Q.search(t):
            rest = [s for s in split_sentences(self.persona.greeting) if self.persona.name not in s]
            return " ".join([f"My name is {self.persona.name}."] + rest)
        if _HOW_ARE_YOU.search(t) and words <= 6:
            return f"I'm doing well, thank you for asking{self._comma_name()}! What would you like to know?"
        if _THANKS.search(t) and words <= 6:
            return f"You're welcome{self._comma_name()}! Is there anything else you'd like to know?"
        if _BYE.search(t) and words <= 6:
            return f"Goodbye{self._comma_name()}! It was nice talking to you."
        if _CAPABILITIES.search(t):
            return self._capabilities()
        if _MORE.search(bare):
            return self._more()
        if _ACK.match(bare):
            return "Glad I could help. What else would you like to know?"
        return self._lookup(t, unknown)

    def _lookup(self, t: str, unknown: str | None = None) -> str:
        entries = self.knowledge.entries
        topic = self.topic
        followup = topic is not None and (_WHAT_ABOUT.search(t) or _REFERS_BACK.search(t))
        queries = [t] + ([f"{topic.question} {t}"] if followup else [])
        vectors = self._embedder.encode(queries)
        scores = self.knowledge.scores(vectors, self._embedder)
        best = scores[0]
        if followup:
            # A follow-up asks something new about the same thing: the topic's own entry is out.
            in_context = scores[1].copy()
            in_context[entries.index(topic)] = -1.0
            # "what about X?" asks the last question again about X: the context decides alone.
            best = in_context if _WHAT_ABOUT.search(t) else np.maximum(best, in_context - FOLLOWUP_PENALTY)
        i = int(np.argmax(best))
        if best[i] < self.threshold:
            return unknown or self._dont_know()
        return self._take_up(entries[i]).answer

    def _more(self) -> str:
        topic = self.topic
        if topic is None:
            return "More about what? " + self._examples()
        if topic.more and topic not in self._told_more:
            self._told_more.add(topic)
            return topic.more
        # Nothing more on this topic: offer the nearest topic not yet discussed.
        vectors = self.knowledge.entry_vectors(self._embedder)
        i_topic = self.knowledge.entries.index(topic)
        order = np.argsort(-(vectors @ vectors[i_topic]))
        for i in order:
            entry = self.knowledge.entries[int(i)]
            if entry is not topic and entry not in self._said:
                self._take_up(entry)
                return f"That's all I know about that. A related question is: {entry.question} {entry.answer}"
        return "That's all I know about that. Is there anything else you'd like to know?"

    def _take_up(self, entry: Entry) -> Entry:
        """Make `entry` the topic, and remember it was said."""
        self.topic = entry
        self._said.add(entry)
        return entry

    def _dont_know(self) -> str:
        sorry = f"I'm sorry{self._comma_name()}, I don't know the answer to that."
        return f"{sorry} {self._examples()}"

    def _capabilities(self) -> str:
        return f"I can answer questions about {len(self.knowledge)} topics. {self._examples()}"

    def _examples(self) -> str:
        fresh = [e for e in self.knowledge.entries if e not in self._said][:3] or self.knowledge.entries[:3]
        qs = [e.question.rstrip("?") for e in fresh]
        listed = ", ".join(qs[:-1]) + (f", or {qs[-1]}" if len(qs) > 1 else qs[-1])
        return f"You could ask me, for example: {listed}?"

    def _comma_name(self) -> str:
        return f", {self.user_name}" if self.user_name else ""

    @staticmethod
    def _find_name(t: str) -> tuple[str | None, str]:
        for pattern in _NAME_PATTERNS:
            m = pattern.search(t)
            if m and m.group(1) not in _NOT_NAMES:
                name = m.group(1).strip("'-")
                rest = (t[: m.start()] + " " + t[m.end():]).strip()
                rest = re.sub(r"^[\s,.!;]*(and\b)?[\s,.!;]*", "", rest)
                return name[:1].upper() + name[1:], rest
        return None, t

    # -- LLM --------------------------------------------------------------------------------

    def _system_prompt(self, user_text: str) -> str:
        persona = self.persona
        parts = [f"Your name is {persona.name}.", (self.instructions or "").strip()]
        if persona.style:
            parts.append(f"Speaking style: {persona.style.strip()}.")
        if persona.language and not persona.language.startswith("en"):
            parts.append(f"Answer in the language with code '{persona.language}'.")
        if self.user_name:
            parts.append(f"The user's name is {self.user_name}.")
        feeling = user_feeling(user_text)
        if feeling in FEELINGS:
            parts.append(f"The user sounds {FEELINGS[feeling]}: begin with a short, sincere word of empathy.")
        kb = self.knowledge
        if len(kb) <= LLM_FULL_KNOWLEDGE:
            facts = kb.as_text()
        else:
            hits = kb.search(user_text, self._embedder or load_embedder(), k=8)
            facts = "\n\n".join(h.entry.as_text() for h in hits)
        parts.append("Answer from these facts when they are relevant; if they do not cover the "
                     "question and you are not sure, say you do not know.\n\n" + facts)
        return "\n".join(p for p in parts if p)

    async def _llm_chunks(self) -> AsyncIterator[str]:
        try:
            import openai
        except ImportError:
            raise LivehumanError("--llm-url needs the openai package: pip install openai") from None
        if self._client is None:
            # Never send OPENAI_API_KEY to an arbitrary endpoint: the LLM's key has its own variable.
            self._client = openai.AsyncOpenAI(
                base_url=self.llm_url, api_key=os.environ.get(LLM_API_KEY_ENV) or "not-needed",
                max_retries=0, timeout=60.0,
            )
        user_text = self.history[-2]["content"] if len(self.history) >= 2 else ""
        self.user_name = self._find_name(_normalize(user_text))[0] or self.user_name
        system = await asyncio.to_thread(self._system_prompt, user_text)
        # The history ends with this turn's empty assistant message: leave it out.
        messages = [{"role": "system", "content": system}] + [
            m for m in self.history[:-1] if m["content"]
        ]
        try:
            model = self.llm_model or await self._first_model()
            stream = await self._client.chat.completions.create(model=model, messages=messages, stream=True)
            try:
                async for chunk in stream:
                    if chunk.choices and chunk.choices[0].delta.content:
                        yield chunk.choices[0].delta.content
            finally:
                await stream.close()
        except openai.APIConnectionError:
            raise LivehumanError(f"cannot reach the language model at {self.llm_url}: is the server running?") from None
        except openai.APIStatusError as e:
            raise LivehumanError(f"the language model at {self.llm_url} answered {e.status_code}: {e.message}") from None

    async def _first_model(self) -> str:
        models = await self._client.models.list()
        if not models.data:
            raise LivehumanError(f"the language model server at {self.llm_url} lists no models: pass --llm-model")
        self.llm_model = models.data[0].id
        return self.llm_model
