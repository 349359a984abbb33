"""Has the user finished their turn? Their words, their pitch and the end-of-turn model, weighed by silence.

The offline brain's "model" turn-taking. After a short silence (PAUSE_MS) the Listener asks how
much silence this turn needs before it ends (`ModelTurns.wait_ms`):

- the words ask for time to think ("Let me think", "Hold on", "Hmm": HOLD_ON): the long limit;
- the words say it is unfinished (it ends on an article, a preposition whose object is still to
  come, a conjunction, a possessive, a filler, or an auxiliary without its subject: "book a", "tell
  me about the", "and um", "what is", "how do I"): only the long limit (LIMIT_MS)
  ends it, unless the voice fell deeply (DEEP_FALL_ST) or the model is sure it is finished
  (MISHEARD_P): the words were then likely misheard, and it is unsure;
- it sounds finished: the voice fell at the end (final lowering, FALL_ST semitones under the turn's
  median pitch in its last voiced 200 ms), or the end-of-turn model is sure (SURE) and the voice
  fell a little, or a yes/no question ("Is it…", "Can you…") rose at its end (RISE_ST over its low
  point in the last RISE_S) and the model leans to finished (ASKED_P), or the model is sure of a
  yes/no question however it ends (ASKED_SURE), or leans to finished on a turn that is a formula
  ("Thank you.": FORMULAS): it ends now, at the short silence, unless the model is sure it is not
  finished (UNFINISHED_P);
- otherwise it is unsure, and ends after UNSURE_MS of silence: longer than a thinking pause
  (people pause 0.5–0.9 s mid-sentence), shorter than the limit. So is a wish or a request that
  stops before its object ("I'd like to book", "Could you explain": `object_to_come`), whatever
  the voice and the model say.

Why these judges. Smart Turn (speech/end_of_turn.py) hears intonation and phrasing; it separates
finished from unfinished utterances on natural speech, but hardly on espeak-ng and flite (measured:
docs/benchmarks.md "Turn-taking"). A falling pitch at the end of a sentence is what synthetic
voices do carry, and what people do too. The recognizer's words at the pause are often short of the
last word said, so the word rule only ever holds a turn open, never ends one.

"auto" mode (the default of `serve`) judges this way only a voice that sounds like a person's
(motion/voice_kind.py, from the turn's own sound): a formant synthesizer's (a bot or a test
talking to /v1/realtime) gets the session's fixed silence, as in "vad" mode, where Smart Turn,
near chance on such voices, would make most of its finished questions wait the unsure second.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the CLI imports this module's settings: no numpy at start-up
    import numpy as np

# The fixed silence; the words, the pitch and the end-of-turn model; or the model's way for a
# person's voice and the fixed silence for a synthesizer's.
MODES = ("vad", "model", "auto")
PAUSE_MS = 180  # model mode: after this much silence a turn judged finished ends
# The verdict is asked this much before the pause is over, so that its computing (the model and the
# recognizer's words: 50-100 ms on two cores) is done when the silence is long enough; asked at the
# pause itself, a finished turn ended no sooner than the fixed silence (docs/benchmarks.md, session 18).
JUDGE_LEAD_MS = 80
UNSURE_MS = 1000  # a turn that sounds neither finished nor unfinished ends after this much silence
LIMIT_MS = 2200  # after this much silence the turn ends whatever the verdict
FALL_ST = -1.5  # semitones: a voice this far under the turn's median at its end has finished (final lowering)
SURE = 0.8  # the model's probability from which it is believed, if the voice fell at least SURE_FALL_ST
SURE_FALL_ST = -0.6
UNFINISHED_P = 0.05  # the model's probability under which a fall does not end the turn (it is sure of "not yet")
RISE_ST = 1.0  # semitones from the voice's low point to its last 200 ms: a yes/no question's rise
RISE_S = 0.6  # s of the voice's end in which the rise is heard (its low point: the 20th percentile there)
ASKED_P = 0.5  # the model's probability from which a rising yes/no question is believed finished
ASKED_SURE = 0.9  # and from which a yes/no question is, however its voice ends ("Is breakfast included?", level)
DEEP_FALL_ST = -3.0  # a fall this deep makes unfinished-looking words only unsure (they are often misheard)
MISHEARD_P = 0.9  # and so does the model this sure of finished (the recognizer adds a "the" or a "to" to questions)
PITCH_S = 2.0  # s of the turn's end whose pitch is heard
MIN_PAUSE_MS = 100  # below this, every breath between two words would be a pause
KIND_S = 3.0  # auto mode: s of the turn's end whose voice is heard for its kind
KIND_FPS = 25.0  # its frames a second (the lips' frames, which the voice-kind network learnt on)
KIND_SLACK_S = 2.0  # and the s of frames kept beyond, for audio that came in a pile after a pause
KIND_PAST = 0.5  # the weight of the session's earlier turns' voice, halved again at each turn

# Words after which an English sentence cannot stop. Deliberately short and unambiguous: words
# that often end a sentence ("up", "in", "out", "her", "like", "it") are left to the model, and so
# are the determiners that are pronouns as often ("What is this?", "Do you have any?": `object_to_come`).
UNFINISHED_WORDS = frozenset({
    # articles and determiners
    "a", "an", "the", "every",
    # possessives
    "my", "your", "our", "their", "its",
    # prepositions
    "to", "of", "for", "with", "from", "at", "by", "about", "into", "onto", "than", "between", "during",
    "without", "towards", "toward",
    # conjunctions
    "and", "but", "or", "nor", "so", "because", "if", "although", "though", "unless", "whether",
    "while", "whereas",
    # fillers
    "um", "uh", "er", "erm", "uhm", "umm", "uhh",
    # contractions that need a verb or object after them
    "i'm", "i'd", "i'll", "i've", "you're", "you'd", "you'll", "you've", "we're", "we'd", "we'll", "we've",
    "they're", "they'd", "they'll", "they've", "he's", "he'd", "he'll", "she's", "she'd", "she'll", "it's",
    "let's", "what's", "where's", "who's", "how's", "when's", "there's", "here's", "that's",
})
# Words a yes/no question begins with (subject-auxiliary inversion: "Is it…", "Can you…", "Don't you…"),
# and the openers that may come before ("So, um, is it…").
QUESTION_WORDS = frozenset({
    "is", "are", "am", "was", "were", "do", "does", "did", "can", "could", "will", "would", "shall", "should",
    "may", "might", "must", "have", "has", "had", "isn't", "aren't", "wasn't", "weren't", "don't", "doesn't",
    "didn't", "can't", "couldn't", "won't", "wouldn't", "shouldn't", "haven't", "hasn't",
})
OPENERS = frozenset({"so", "um", "uh", "er", "erm", "well", "oh", "okay", "ok", "and", "but", "hey", "also", "now",
                     "sorry", "please"})
# A preposition may end a sentence when its object was moved before it: a wh-word ("Where are you
# from?", "What are you looking for?", "Who did you talk to?") with a pronoun after it, and no noun
# phrase between it and the preposition; or a word that a clause begun by a pronoun or an
# infinitive's "to" describes ("the one I'm looking for", "nothing to talk about": HEADS). "What is
# the price of…", "What about…" and "How does it work with…" ("how" is never the object) still wait
# for theirs. "to" is an infinitive's more often than not ("What would you like to…"), so it may end
# one only after a verb whose "to" it is (`TO_VERBS`) or an object pronoun ("Who should I give it to?").
STRANDED = frozenset({"of", "for", "with", "from", "at", "by", "about", "into", "onto", "to"})
OBJECT_WH = frozenset({"what", "which", "who", "whom", "whose", "where", "what's", "who's", "where's"})
HEADS = frozenset({"nothing", "something", "anything", "everything", "someone", "anyone", "everyone", "nobody",
                   "somebody", "one", "all"})
PRONOUNS = frozenset({"i", "you", "he", "she", "it", "we", "they", "me", "him", "her", "us", "them", "this",
                      "that", "these", "those", "i'm", "you're", "he's", "she's", "it's", "we're", "they're"})
NOUN_PHRASE = frozenset({"a", "an", "the", "my", "your", "his", "its", "our", "their", "every", "some", "any"})
TO_VERBS = frozenset({"talk", "talking", "talked", "speak", "speaking", "spoke", "spoken", "listen", "listening",
                      "listened", "go", "goes", "going", "went", "gone", "belong", "belongs", "up", "come", "coming",
                      "came", "refer", "referring", "reply", "replying", "write", "writing", "wrote", "get", "got"})
# A question of "how much", "what time", "which one"… whose verb has come but not its subject ("How
# much is…", "What time does…"): the wh-word and a word that makes a wh-phrase of it.
WH_PHRASES = {
    "how": frozenset({"much", "many", "long", "old", "far", "often", "big", "tall", "late", "early", "soon", "fast"}),
    "what": frozenset({"time", "kind", "sort", "type", "day", "year", "colour", "color", "size", "else"}),
    "which": frozenset({"one", "way", "day", "kind", "type", "size"}),
}
# Whole turns that are complete by themselves, however the voice ends: greetings, thanks, farewells,
# answers to the avatar's own questions ("Hello.", "Thank you.", "Yes, please.": often said level).
FORMULAS = frozenset({
    "hello", "hi", "hey", "hello there", "hi there", "good morning", "good afternoon", "good evening", "good night",
    "thanks", "thank you", "many thanks", "bye", "goodbye", "bye bye", "see you", "see you later", "yes", "no",
    "yeah", "yep", "nope", "okay", "ok", "alright", "all right", "sure", "great", "cool", "fine", "good", "nice",
    "perfect", "wonderful", "excellent", "awesome", "exactly", "absolutely", "sorry", "excuse me", "please",
    "you're welcome", "of course", "not really", "me too", "never mind", "no problem", "got it", "i see",
    "that's right", "that's great", "that's all", "that's it", "sounds good", "sounds great",
})
# and what may follow one ("Thanks so much", "Okay, bye then", "Sounds good to me")
FORMULA_TAILS = frozenset({"so much", "very much", "a lot", "again", "then", "too", "to me", "for everything",
                           "for your help"})
# Words that only lead into what a speaker says ("So, basically…"): a turn of nothing else is unfinished.
MARKERS = OPENERS | {"basically", "actually", "honestly", "frankly", "anyway", "like", "look", "listen"}
# Endings of two or more words that ask for more ("I'd like", "can you", "could I").
UNFINISHED_PHRASES = (
    ("i'd", "like"), ("would", "like"), ("i", "want"), ("i", "need"), ("can", "you"), ("could", "you"),
    ("would", "you"), ("can", "i"), ("could", "i"), ("i", "think"), ("such", "as"), ("as", "well", "as"),
    ("was", "wondering"), ("am", "wondering"), ("i'm", "wondering"),  # "I was wondering… if"
)
# Endings with which a speaker asks for time to think ("Let me think…", "Hold on", "Hmm"): the turn
# waits for the limit, whatever the voice and the model say.
HOLD_ON = (
    ("let", "me", "think"), ("let", "me", "see"), ("let's", "see"), ("hold", "on"), ("one", "moment"),
    ("one", "second"), ("just", "a", "moment"), ("just", "a", "second"), ("wait", "a", "moment"),
    ("wait", "a", "second"), ("wait", "a", "minute"), ("give", "me", "a", "moment"), ("give", "me", "a", "second"),
    ("how", "do", "i", "put", "it"), ("how", "do", "i", "put", "this"), ("what's", "the", "word"),
    ("hmm",), ("hm",), ("hmmm",), ("mm",), ("mmm",),
)


# "so" standing for what was said ("I think so", "I hope not… I guess so", "a week or so") ends a sentence.
SO_ENDS = frozenset({"think", "hope", "guess", "believe", "suppose", "expect", "imagine", "said", "say", "or"})
# A form of "be" ends a sentence after its subject, the rest left out ("Yes, it is", "I know where it
# is"), or in a clause a wh-word opened ("…where the station is"); else it waits for what it says of
# its subject ("What is…", "My name is…").
BE = frozenset({"is", "are", "am", "was", "were"})
SUBJECTS = frozenset({"i", "you", "he", "she", "it", "we", "they", "there", "that", "this"})
WH_WORDS = frozenset({"what", "how", "where", "when", "which", "who", "whom", "whose"})
# A "do" or a modal asks for a verb after a wh-word ("How does…", "What can…") and after a wh-question's
# subject ("How do I…", "Where can we…", "What time does it…"). ("What can you do" ends on "do" the
# verb; "Why do you?" can stand alone: "why" is left out.)
DO_OR_MODAL = frozenset({"do", "does", "did", "can", "could", "will", "would", "shall", "should", "may", "might",
                         "must"})
# Verbs that take an object. A wish or a request that ends on one before its object is said ("I'd
# like to book…", "I want to know…", "Could you explain…", "Can you show me…") likely goes on, though
# it may stand ("I'd like to order."): unsure, never the limit. With a wh-word the wh-word is the
# object ("What would you like to know?"); after an adjective the subject is ("Good to know.", "It's
# easy to use."), so only a wish's "to" counts.
OBJECT_VERBS = frozenset({"know", "ask", "book", "reserve", "order", "buy", "get", "find", "learn", "tell", "show",
                          "explain", "describe", "give", "send", "bring", "make", "use", "discuss", "recommend",
                          "suggest", "remind"})
WISHES = frozenset({"like", "love", "want", "wants", "wanted", "need", "needs", "needed", "hope", "wish", "going",
                    "have", "has", "try", "trying", "plan", "planning", "able"})  # "…like to", "…going to"
REQUESTS = frozenset({"can", "could", "will", "would"})  # "Could you…"
# Verbs that never end a clause without their object ("My daughter wants…", "I'm going to need…"),
# but in an ellipsis after "if" or "as" ("…if you want"), or when a wh-word or a clause's head before
# them is the object ("What do you need?", "It's all I want").
NEED_OBJECTS = frozenset({"need", "needs", "want", "wants", "prefer", "prefers", "bring", "brings", "buy", "buys",
                          "give", "gives", "put", "puts", "require", "requires", "contain", "contains", "include",
                          "includes"})
# Verbs whose "on" is a preposition, its object still to come ("Does it run on…", "It depends on…"),
# unlike a particle's ("turn on", "go on", "hold on"), which ends a sentence.
ON_VERBS = frozenset({"run", "runs", "work", "works", "depend", "depends", "rely", "relies", "count", "based",
                      "focus", "available", "installed", "install"})


def last_words(text: str) -> list[str]:
    """The transcript's words, lower case, punctuation dropped (apostrophes kept)."""
    return re.findall(r"[a-z]+(?:'[a-z]+)?", text.lower())


def unfinished(text: str) -> bool:
    """Whether the words end where no sentence can (the rule; see UNFINISHED_WORDS)."""
    words = last_words(text)
    if not words:
        return False
    before = words[-2] if len(words) > 1 else ""
    if words[-1] in UNFINISHED_WORDS:
        if words[-1] in STRANDED and _stranded(words):
            return False
        return words[-1] != "so" or before not in SO_ENDS
    if words[-1] in BE and before not in SUBJECTS and (before in WH_WORDS or not WH_WORDS & set(words)
                                                       or _clause_as_subject(words)):
        return True
    if words[-1] in BE | DO_OR_MODAL and (before in WH_WORDS or _wh_phrase(words[-3:-1])):
        return True
    if words[-1] in SUBJECTS and before in DO_OR_MODAL and _asked(words) in WH_WORDS:
        return True
    if all(word in MARKERS for word in words) and not formula(text):
        return True
    return _ends_with(words, UNFINISHED_PHRASES)


def _clause_as_subject(words: list[str]) -> bool:
    """Whether the words begin with a wh-clause that is the subject of a "be" still to be followed
    ("What I really need is…", "How I see it is…"): a wh-word, then a pronoun its subject."""
    clause = _after_openers(words)
    return len(clause) > 3 and clause[0] in WH_WORDS and clause[1] in SUBJECTS


def holding_on(text: str) -> bool:
    """Whether the words end asking for time to think (HOLD_ON)."""
    return _ends_with(last_words(text), HOLD_ON)


def _ends_with(words: list[str], phrases: tuple[tuple[str, ...], ...]) -> bool:
    return any(tuple(words[-len(phrase):]) == phrase for phrase in phrases)


def _stranded(words: list[str]) -> bool:
    """Whether the last word, a preposition, may end the sentence, its object moved before it (STRANDED)."""
    if len(words) < 2 or (words[-1] == "to" and words[-2] not in TO_VERBS | PRONOUNS):
        return False
    for i in range(len(words) - 2, -1, -1):  # back from the preposition to its object
        if words[i] in OBJECT_WH:
            return any(word in PRONOUNS for word in words[i + 1:-1])
        if words[i] in HEADS and i + 1 < len(words) - 1 and (words[i + 1] in PRONOUNS or words[i + 1] == "to"):
            return True
        if words[i] in NOUN_PHRASE:
            return False
    return False


def _wh_phrase(words: list[str]) -> bool:
    """Whether two words are a wh-phrase ("how much", "what time", "which one": WH_PHRASES)."""
    return len(words) == 2 and words[1] in WH_PHRASES.get(words[0], ())


def object_to_come(text: str) -> bool:
    """Whether the words end on a verb of OBJECT_VERBS whose object is still to come, after a wish's
    "to" ("I'd like to book", "I want to know"), a request's "you" ("Could you explain", "Can you
    tell me") or nothing but openers (a request said as a command: "Tell me", "Please explain"), or
    on the "on" of ON_VERBS ("Does it run on"); or on "some" or "any", whose noun is likely to come,
    though they may stand ("I'd like some…", "Can I have some?"); or on a question's "have", the verb
    after its subject ("Do you have…", "Can I have…"); or on a verb of NEED_OBJECTS after anything; or
    on a question's "there" ("Are there…")."""
    words = [word for word in last_words(text) if word != "please"]  # ("Could you please explain")
    if WH_WORDS & set(words):
        return False
    if words[-1:] and words[-1] in ("some", "any"):
        return True
    if words[-3:-2] and words[-1] in ("have", "has") and words[-2] in SUBJECTS and words[-3] in DO_OR_MODAL:
        return True
    if words[-1:] and words[-1] in NEED_OBJECTS and not HEADS & set(words) and not {"if", "as"} & set(words[-3:-1]):
        return True
    if words[-2:-1] and words[-1] == "there" and words[-2] in BE and _asked(words) == words[-2]:
        return True
    if words[-2:-1] and words[-1] == "on":
        return words[-2] in ON_VERBS
    if words[-1:] and words[-1] in ("me", "us"):
        words = words[:-1]  # "…tell me", "…show us": the thing told or shown is still to come
    if not words or words[-1] not in OBJECT_VERBS:
        return False
    if not _asked(words[:-1]):  # nothing but openers before it
        return True
    before = words[-3:-1]
    return len(before) == 2 and ((before[1] == "to" and before[0] in WISHES)
                                 or (before[1] == "you" and before[0] in REQUESTS))


def formula(text: str) -> bool:
    """Whether the words are FORMULAS one after another, each perhaps with a tail (FORMULA_TAILS),
    after any openers ("Oh, thank you so much", "Yes, that's right", "Okay, bye then")."""
    words = last_words(text)
    words = _after_openers(words) or words[-1:]  # ("okay" alone is an opener and a formula)
    i = 0
    while i < len(words):
        fits = [n for n in (4, 3, 2, 1) if " ".join(words[i : i + n]) in FORMULAS
                or (i > 0 and " ".join(words[i : i + n]) in FORMULA_TAILS)]
        if not fits:
            return False
        i += fits[0]  # the longest
    return bool(words)


def yes_no_question(text: str) -> bool:
    """Whether the words begin as a yes/no question does (an auxiliary verb first, after any openers)."""
    return _asked(last_words(text)) in QUESTION_WORDS


def _asked(words: list[str]) -> str:
    """The first of `words` after any openers ("So, um, is it…": "is"); "" if none."""
    return next(iter(_after_openers(words)), "")


def _after_openers(words: list[str]) -> list[str]:
    """`words` from the first that is not an opener ("so", "um", "well"…)."""
    return words[next((i for i, word in enumerate(words) if word not in OPENERS), len(words)):]


def final_pitch(audio16k: np.ndarray) -> float | None:
    """Semitones from the turn's median pitch (its last PITCH_S) to the median of its last 200 ms of
    voice: negative when the voice fell at the end; None with too little voice to tell."""
    return end_pitch(audio16k)[0]


def end_pitch(audio16k: np.ndarray) -> tuple[float | None, float | None]:
    """The voice's fall (`final_pitch`) and its rise: semitones from its low point in the last RISE_S
    of voice to the median of its last 200 ms (a question's rise starts from the low of its last
    accent); (None, None) with too little voice to tell."""
    import numpy as np

    from livehuman.emotion.voice import FRAME, HOP, _frames, _pitch  # the YIN tracker of the voice's emotion
    from livehuman.rates import LISTEN_RATE

    hop = 2 * HOP  # every other frame: the verdict waits for this, and the contour is slow
    frames = _frames(np.asarray(audio16k[-int(PITCH_S * LISTEN_RATE):], np.float64), int(FRAME * LISTEN_RATE),
                     int(hop * LISTEN_RATE))
    if len(frames) == 0:
        return None, None
    level = 10 * np.log10((frames ** 2).mean(axis=1) + 1e-12)
    audible = (level > level.max() - 30) & (level > -60)
    f0 = np.where(audible, _pitch(frames, LISTEN_RATE), 0.0)
    voiced = np.flatnonzero(f0 > 0)
    if len(voiced) < 5:  # under 0.1 s of voice
        return None, None
    semitones = 12 * np.log2(f0[voiced] / np.median(f0[voiced]))
    end = float(np.median(semitones[voiced >= voiced[-1] - round(0.2 / hop)]))
    low = float(np.percentile(semitones[voiced >= voiced[-1] - round(RISE_S / hop)], 20))
    return end, end - low


def silence_needed(text: str, probability: float, fall: float | None, rise: float | None = None,
                   pause_ms: int = PAUSE_MS, unsure_ms: int = UNSURE_MS, limit_ms: int = LIMIT_MS) -> int:
    """The verdict as the silence (ms) that ends the turn: `pause_ms` if it sounds finished,
    `limit_ms` if the words say it is not, `unsure_ms` otherwise (see the module's doc)."""
    unsure = max(pause_ms, min(unsure_ms, limit_ms))
    if holding_on(text):
        return limit_ms
    if unfinished(text):
        misheard = (fall is not None and fall <= DEEP_FALL_ST) or probability >= MISHEARD_P
        return unsure if misheard else limit_ms
    if probability < UNFINISHED_P:  # natural speech: "…who do not know" falls, and the model hears it go on
        return unsure
    if object_to_come(text):  # "I'd like to book", said as a sentence is: a thinking pause may follow
        return unsure
    if fall is not None and (fall <= FALL_ST or (probability >= SURE and fall <= SURE_FALL_ST)):
        return pause_ms
    if fall is None and probability >= SURE:  # too little voice to hear its pitch: the model alone
        return pause_ms
    if rise is not None and rise >= RISE_ST and probability >= ASKED_P and yes_no_question(text):
        return pause_ms  # "Are you open on Sunday?", rising: the words ask, the voice asks, the model agrees
    if probability >= ASKED_SURE and yes_no_question(text):
        return pause_ms  # said level: the words ask, and the model is sure
    if probability >= ASKED_P and formula(text):
        return pause_ms  # "Thank you.", "Hello.": complete however the voice ends, and the model agrees
    return unsure


@dataclass(frozen=True)
class ModelTurns:
    """Model-mode turn-taking for a Listener: `model.probability(audio16k)` (EndOfTurnModel, shared
    between sessions: onnxruntime runs are thread-safe), asked after `judge_ms` of silence; a turn
    judged finished ends after `pause_ms`, an unsure one after `unsure_ms`, any turn after `limit_ms`.
    `people_only` (auto mode): only a voice that sounds like a person's is judged so (the Listener
    asks `VoiceKind`); a synthesizer's turn ends after the session's fixed silence."""

    model: Any
    pause_ms: int = PAUSE_MS
    limit_ms: int = LIMIT_MS
    unsure_ms: int = UNSURE_MS
    people_only: bool = False

    def __post_init__(self) -> None:
        from livehuman.errors import LivehumanError

        if not MIN_PAUSE_MS <= self.pause_ms < self.limit_ms:
            raise LivehumanError(f"the end-of-turn pause ({self.pause_ms} ms) must be at least {MIN_PAUSE_MS} ms "
                                 f"and shorter than the limit ({self.limit_ms} ms)")
        if self.unsure_ms < self.pause_ms:  # (above the limit, the limit applies)
            raise LivehumanError(f"the unsure turn's silence ({self.unsure_ms} ms) must not be shorter than "
                                 f"the pause ({self.pause_ms} ms)")

    @property
    def judge_ms(self) -> int:
        """The silence after which the turn is judged: JUDGE_LEAD_MS before the pause is over."""
        return max(MIN_PAUSE_MS, self.pause_ms - JUDGE_LEAD_MS)

    def wait_ms(self, audio16k: np.ndarray, text: str) -> int:
        """How much silence ends the turn whose audio and words these are (the model is asked unless
        the words alone decide, asking for time or for an object; the pitch always, for a deep fall
        may overrule words that look unfinished, as a sure model may)."""
        probability = 0.0 if holding_on(text) or object_to_come(text) else self.model.probability(audio16k)
        fall, rise = end_pitch(audio16k)
        return silence_needed(text, probability, fall, rise, self.pause_ms, self.unsure_ms, self.limit_ms)


class VoiceKind:
    """Auto mode: whether a session's voice sounds like a person's rather than a formant synthesizer's
    (motion/voice_kind.py), heard as it comes. Each 40 ms frame's features are computed as its audio
    arrives, so that asking at a pause costs the network alone (~1 ms): the features of KIND_S at
    once took ~28 ms of the verdict's time. A turn is heard with the session's earlier ones, the
    last counting half as much as its own voiced frames (KIND_PAST), the one before a quarter…: a
    short "Do you have…" tells little, and the same person is speaking."""

    def __init__(self) -> None:
        self._past_p = 0.0  # the earlier turns' voiced frames, weighted, times their P(a person's voice)
        self._past_n = 0.0  # and the weighted frames themselves
        self._new_turn()

    def begin(self) -> None:
        """A new turn: its audio follows (`hear`), from its first sample; the last one joins the past."""
        p, voiced = self._evidence(len(self._frames) + self._dropped)
        self._past_p = KIND_PAST * (self._past_p + p * voiced)
        self._past_n = KIND_PAST * (self._past_n + voiced)
        self._new_turn()

    def _new_turn(self) -> None:
        from collections import deque

        from livehuman.motion.acoustics import FeatureStream

        self._stream = FeatureStream(KIND_FPS, speech=False)  # (the network reads no VAD)
        self._frames: deque = deque(maxlen=round((KIND_S + KIND_SLACK_S) * KIND_FPS))
        self._dropped = 0  # frames of the turn no longer kept

    def hear(self, samples16k: np.ndarray) -> None:
        """The turn's next samples."""
        from livehuman.rates import LISTEN_RATE

        self._stream.push(samples16k, LISTEN_RATE)
        for frame in self._stream.ready():
            if len(self._frames) == self._frames.maxlen:
                self._dropped += 1  # (the oldest frame goes)
            self._frames.append(frame)

    def person(self, heard_s: float) -> bool | None:
        """Whether the voice of the turn's first `heard_s` seconds (their last KIND_S), with the
        session's earlier turns, sounds like a person's; None with too little voice to tell (under
        ~0.4 s in all)."""
        from livehuman.motion.acoustics import HOP_LOOKAHEAD
        from livehuman.motion.voice_kind import MIN_FRAMES

        p, voiced = self._evidence(int((heard_s - HOP_LOOKAHEAD) * KIND_FPS + 0.5))
        if voiced + self._past_n < MIN_FRAMES:
            return None
        return (p * voiced + self._past_p) / (voiced + self._past_n) > 0.5

    def _evidence(self, heard: int) -> tuple[float, int]:
        """P(a person's voice) over the voiced frames of the last KIND_S up to the turn's frame
        `heard`, and how many there were (motion.voice_kind.person_evidence)."""
        from livehuman.motion.voice_kind import person_evidence

        heard -= self._dropped  # (frames whose audio had all come)
        return person_evidence(list(self._frames)[max(0, heard - round(KIND_S * KIND_FPS)) : max(0, heard)])
